import { type Config, variables } from './config.ts'
import { envFileValue } from './env-file.ts'
import { SECTIONS } from './reference.ts'
import { startWarnings } from './warnings.ts'

export const MASK = '***'

/** A URL's password, if it has one, as `***` (the user stays, to say whose it is). */
export function maskUrlPassword(text: string): string {
  const url = URL.parse(text)
  if (url === null || url.password === '') return text
  url.password = MASK
  return url.toString()
}

const byName = new Map(
  Object.entries(variables).map(([key, v]) => [v.env as string, { key: key as keyof Config, v }]),
)

function shown(name: string, config: Config): string {
  const entry = byName.get(name)
  if (!entry) throw new Error(`no variable ${name}`)
  const { key, v } = entry
  const value = config[key]
  const text = (v.write as (value: unknown) => string)(value)
  if (!v.secret) return maskUrlPassword(text)
  if (text === '') return ''
  // Named API keys keep their names: they say which clients are configured.
  if (name === 'API_KEYS') return config.apiKeys.map((k) => (k.named ? `${k.name}:${MASK}` : MASK)).join(',')
  return MASK
}

/** The effective settings, each in the spelling its variable accepts, secrets and URL passwords masked. */
export function describeConfig(config: Config): Record<string, string> {
  const out: Record<string, string> = {}
  for (const section of SECTIONS) for (const name of section.names) out[name] = shown(name, config)
  return out
}

/**
 * `llm-relay check-config`'s report: the start's warnings, then every setting as a `.env` line
 * (grouped as in `.env.example`), so what it prints can be pasted back.
 */
export function renderSettings(config: Config): string {
  const settings = describeConfig(config)
  const lines = [
    '# llm-relay check-config: the configuration is valid. Effective settings, in .env syntax;',
    `# secrets and URL passwords are shown as ${MASK}: keep your own values for those.`,
    ...startWarnings(config).map((w) => `# warning: ${w}`),
  ]
  for (const section of SECTIONS) {
    lines.push('', `# --- ${section.title} ---`)
    for (const name of section.names) {
      const value = settings[name] ?? ''
      const spelled = envFileValue(value)
      lines.push(
        spelled === undefined
          ? `# ${name}: its value cannot be written in .env syntax; set it in the environment`
          : `${name}=${spelled}`,
      )
    }
  }
  return lines.join('\n')
}

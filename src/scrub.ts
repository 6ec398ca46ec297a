import type { Config } from './config/config.ts'

/** What a scrubbed secret becomes: the text keeps its shape, the secret is gone. */
export const REDACTED = '[redacted]'

/** A configured secret shorter than this is no secret worth the damage its removal does to text. */
const SHORTEST_SECRET = 4

/**
 * Shapes that are credentials whatever they belong to: a bearer token (RFC 6750's b64token, 8
 * characters or more, so "bearer of news" stays), an OpenAI / OpenRouter style `sk-…` key, a
 * Standard Webhooks `whsec_…` secret. The prefix is kept so a reader still sees what was there.
 */
const SHAPES: readonly [RegExp, string][] = [
  [/\b(Bearer)(\s+)[A-Za-z0-9\-._~+/]{8,}=*/gi, `$1$2${REDACTED}`],
  [/\bsk-[A-Za-z0-9_-]{4,}/g, `sk-${REDACTED}`],
  [/\bwhsec_[A-Za-z0-9+/=_-]{4,}/g, `whsec_${REDACTED}`],
]

/**
 * Removes secrets from text that came from outside (an LLM API's error body, a callback
 * receiver's error) before it is logged, stored or sent: upstreams echo what they were sent,
 * keys included. Every configured secret goes, in the spellings an echo may use (as is,
 * URL-encoded, JSON-escaped), and so does anything shaped like a credential.
 */
export class SecretScrubber {
  private readonly spellings: string[]

  constructor(secrets: readonly (string | undefined)[]) {
    const spellings = new Set<string>()
    for (const secret of secrets) {
      if (secret === undefined || secret.length < SHORTEST_SECRET) continue
      spellings.add(secret)
      spellings.add(encodeURIComponent(secret))
      spellings.add(JSON.stringify(secret).slice(1, -1))
    }
    // Longest first: a secret that contains another is removed whole, not around the shorter one.
    this.spellings = [...spellings].sort((a, b) => b.length - a.length)
  }

  scrub(text: string): string {
    let out = text
    for (const spelling of this.spellings)
      if (out.includes(spelling)) out = out.replaceAll(spelling, REDACTED)
    for (const [shape, replacement] of SHAPES) out = out.replace(shape, replacement)
    return out
  }
}

/** The password of a URL's user info, as written and decoded; none for a URL without one. */
function passwordOf(url: string | undefined): string[] {
  if (url === undefined) return []
  try {
    const { password } = new URL(url)
    return password === '' ? [] : [password, decodeURIComponent(password)]
  } catch {
    return []
  }
}

/** Every secret the configuration holds: the LLM key, the signing secret, the API keys, database and Redis passwords. */
export function configuredSecrets(config: Config): string[] {
  const secrets: string[] = []
  if (config.llmApiKey) secrets.push(config.llmApiKey)
  if (config.callbackSecret) secrets.push(config.callbackSecret, config.callbackSecret.slice('whsec_'.length))
  for (const key of config.apiKeys) secrets.push(key.key)
  secrets.push(...Object.values(config.otelHeaders))
  for (const { key } of config.dataEncryptionKey) secrets.push(Buffer.from(key).toString('base64'))
  secrets.push(...passwordOf(config.redisUrl))
  if (config.database.kind === 'postgres') secrets.push(...passwordOf(config.database.url))
  return secrets
}

import { variables } from './config.ts'

/** Where each variable stands in `.env.example` and the README's configuration table. */
export const SECTIONS: readonly { title: string; names: readonly string[] }[] = [
  { title: 'Server', names: ['PORT', 'HOST', 'PUBLIC_URL', 'SHUTDOWN_TIMEOUT'] },
  {
    title: 'Database and scale-out',
    names: ['DATABASE_URL', 'DATABASE_POOL_MAX', 'REDIS_URL', 'RELAY_ROLE', 'RETENTION', 'HISTORY_RETENTION'],
  },
  {
    title: 'LLM',
    names: [
      'LLM_BASE_URL',
      'LLM_API_KEY',
      'LLM_MODEL',
      'LLM_TEMPERATURE',
      'LLM_MAX_TOKENS',
      'LLM_FALLBACK_MODELS',
      'LLM_TIMEOUT',
      'LLM_HTTP2',
      'LLM_RETRY_SCHEDULE',
      'LLM_MAX_RPM',
      'LLM_MAX_PAUSE',
      'SYSTEM_PROMPT',
      'HISTORY_MAX_MESSAGES',
      'HISTORY_MAX_TOKENS',
      'MAX_TOOL_ROUNDS',
      'TOOL_RESULTS_TIMEOUT',
      'MAX_MESSAGE_CHARS',
      'MAX_RESPONSE_CHARS',
      'APP_URL',
      'APP_NAME',
    ],
  },
  {
    title: 'Worker',
    names: ['WORKER_CONCURRENCY', 'BUN_CONFIG_MAX_HTTP_REQUESTS', 'MEMORY_SOFT_LIMIT', 'JOB_LEASE'],
  },
  {
    title: 'Callbacks',
    names: [
      'CALLBACK_SECRET',
      'CALLBACK_SECRET_GRACE',
      'CALLBACK_TIMEOUT',
      'CALLBACK_RETRY_SCHEDULE',
      'CALLBACK_BREAKER_FAILURES',
      'CALLBACK_BREAKER_PROBE',
      'CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN',
      'OPERATOR_WEBHOOK_URL',
      'ALLOW_PRIVATE_CALLBACK_URLS',
      'CALLBACK_ALLOWED_HOSTS',
    ],
  },
  {
    title: 'Security',
    names: [
      'API_KEYS',
      'ADMIN_API_KEYS',
      'DATA_ENCRYPTION_KEY',
      'RATE_LIMIT_MAX',
      'RATE_LIMIT_WINDOW',
      'TRUST_PROXY',
      'MAX_BODY_BYTES',
      'DOCS_ENABLED',
      'CONSOLE_ENABLED',
      'CONSOLE_SESSION_SECRET',
      'CONSOLE_SESSION_TTL',
    ],
  },
  {
    title: 'Logging and traces',
    names: [
      'LOG_LEVEL',
      'LOG_FORMAT',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_OTLP_HEADERS',
      'OTEL_SERVICE_NAME',
    ],
  },
]

const byName = new Map(Object.values(variables).map((v) => [v.env as string, v]))

function variableNamed(name: string) {
  const v = byName.get(name)
  if (!v) throw new Error(`SECTIONS names ${name}, which the config does not read`)
  return v
}

const plain = (doc: string) => doc.replaceAll('`', '')

export function renderEnvExample(): string {
  const out = [
    '# llm-relay configuration. Copy this file to `.env`: Bun reads `.env` at start (the real',
    '# environment wins over it). Every line shows the default, so a line you keep unchanged can',
    '# also be deleted. Durations read 500ms, 10s, 5m, 2h or plain milliseconds.',
    '# Generated from src/config/config.ts by `bun run docs:config`: edit the descriptions there.',
  ]
  for (const section of SECTIONS) {
    out.push('', `# --- ${section.title} ---`, '')
    for (const name of section.names) {
      const v = variableNamed(name)
      out.push(`# ${plain(v.doc)}`)
      if (v.aliases?.length) out.push(`# Also read as ${v.aliases.join(', ')} when this is unset or empty.`)
      out.push(`${v.env}=${v.default}`)
    }
  }
  return `${out.join('\n')}\n`
}

export function renderConfigTable(): string {
  const rows = ['| Variable | Default | Meaning |', '| --- | --- | --- |']
  for (const section of SECTIONS) {
    for (const name of section.names) {
      const v = variableNamed(name)
      const alias = v.aliases?.length ? ` Also read as ${v.aliases.map((a) => `\`${a}\``).join(', ')}.` : ''
      const secret = v.secret ? ' Secret: never logged or shown.' : ''
      rows.push(
        `| \`${v.env}\` | ${v.default === '' ? '_empty_' : `\`${v.default}\``} | ${v.doc.replaceAll('|', '\\|')}${alias}${secret} |`,
      )
    }
  }
  return rows.join('\n')
}

export const TABLE_START = '<!-- config-table:start -->'
export const TABLE_END = '<!-- config-table:end -->'

export function withConfigTable(readme: string): string {
  const start = readme.indexOf(TABLE_START)
  const end = readme.indexOf(TABLE_END)
  if (start < 0 || end < start) throw new Error('README.md lacks the config-table markers')
  return `${readme.slice(0, start + TABLE_START.length)}\n${renderConfigTable()}\n${readme.slice(end)}`
}

/*
 * Longer than most files on purpose: this is the whole reference of the environment, each
 * variable with its default, meaning and reader. The readers (and the writers check-config
 * spells values back with) are readers.ts.
 */

import { formatDuration } from './duration.ts'
import {
  apiKeys,
  boolean,
  byteSize,
  callbackSecret,
  database,
  dataKeys,
  decimal,
  duration,
  durationList,
  hostList,
  httpUrl,
  integer,
  list,
  listenHost,
  logLevel,
  maxRpm,
  memorySize,
  nonEmptyText,
  optionalText,
  otlpHeaders,
  type Reader,
  text,
  writing,
} from './readers.ts'

export type { ApiKey, DatabaseConfig, DataKeyEntry, LogLevel } from './readers.ts'

/** Strings as they are, numbers and booleans in decimal, lists comma-joined, nothing as empty. */
function writePlain(value: unknown): string {
  if (value === undefined || value === null) return ''
  if (Array.isArray(value)) return value.map(writePlain).join(',')
  return String(value)
}

/**
 * Every environment variable llm-relay reads, with its default and what it means.
 * This table is the single source: the parser, `.env.example` and the README's
 * configuration table are all checked against it.
 */
interface Variable<T> {
  env: string
  aliases?: readonly string[]
  default: string
  doc: string
  secret?: boolean
  parse: (raw: string) => T
  /** The value as text `parse` reads back to the same value. */
  write: (value: T) => string
}

function variable<T>(
  env: string,
  fallback: string,
  doc: string,
  parse: Reader<T>,
  extra: { aliases?: readonly string[]; secret?: boolean } = {},
): Variable<T> {
  return { env, default: fallback, doc, parse, write: parse.write ?? writePlain, ...extra }
}

export const variables = {
  port: variable('PORT', '3000', 'HTTP port to listen on.', integer(0, 65535)),
  host: variable('HOST', '0.0.0.0', 'Address to listen on.', listenHost),
  publicUrl: variable(
    'PUBLIC_URL',
    '',
    'Optional: the URL clients reach the relay at (`https://relay.example.com`). When set, every `status_url` starts with it, whatever `Host` a request sent; unset, `status_url` follows a usable `Host` and is relative otherwise.',
    (raw: string): string | undefined => (raw.trim() === '' ? undefined : httpUrl(raw)),
  ),
  database: variable(
    'DATABASE_URL',
    'sqlite:./data/llm-relay.db',
    'Where jobs and history live: `sqlite:<path>`, `sqlite::memory:`, or `postgres://user@host/db` (add `?schema=name` for a schema of its own) to run many instances.',
    database,
  ),
  databasePoolMax: variable(
    'DATABASE_POOL_MAX',
    '10',
    'PostgreSQL only: connections in each instance’s pool.',
    integer(1, 1000),
  ),
  redisUrl: variable(
    'REDIS_URL',
    '',
    'Optional `redis://…`: keeps LLM_MAX_RPM and the rate limit fleet-wide across instances (else PostgreSQL does).',
    (raw: string): string | undefined => {
      if (raw.trim() === '') return undefined
      if (!/^rediss?:\/\//.test(raw)) throw new Error(`must start with redis:// or rediss://, got "${raw}"`)
      return raw
    },
  ),
  role: variable(
    'RELAY_ROLE',
    'all',
    '`all` serves the API and works the queue; `api` only accepts; `worker` only works the queue (and serves /health, /ready, /metrics).',
    (raw: string): 'all' | 'api' | 'worker' => {
      if (raw !== 'all' && raw !== 'api' && raw !== 'worker')
        throw new Error(`must be all, api or worker, got "${raw}"`)
      return raw
    },
  ),
  llmBaseUrl: variable(
    'LLM_BASE_URL',
    'https://openrouter.ai/api/v1',
    'Base URL of the OpenAI-compatible API.',
    httpUrl,
  ),
  llmApiKey: variable(
    'LLM_API_KEY',
    '',
    'API key for the LLM API. Without one, jobs fail with `llm_auth`.',
    optionalText,
    { aliases: ['OPENROUTER_API_KEY'], secret: true },
  ),
  llmModel: variable(
    'LLM_MODEL',
    'openrouter/free',
    'Model used when a request names none. `openrouter/free` routes over OpenRouter’s free models.',
    nonEmptyText('openrouter/free'),
  ),
  llmTemperature: variable(
    'LLM_TEMPERATURE',
    '',
    'Sampling temperature (0 to 2) of a message whose `llm` object sets none; empty: the provider’s default.',
    (raw: string): number | undefined => (raw.trim() === '' ? undefined : decimal(0, 2)(raw)),
  ),
  llmMaxTokens: variable(
    'LLM_MAX_TOKENS',
    '',
    'Longest answer in tokens (1 to 200000) of a message whose `llm` object sets none; empty: the provider’s default.',
    (raw: string): number | undefined => (raw.trim() === '' ? undefined : integer(1, 200_000)(raw)),
  ),
  llmFallbackModels: variable(
    'LLM_FALLBACK_MODELS',
    '',
    'Comma list of models OpenRouter tries when the first fails (its `models` parameter).',
    list,
  ),
  llmTimeout: variable('LLM_TIMEOUT', '60s', 'Time limit of one LLM call.', duration(1)),
  llmHttp2: variable(
    'LLM_HTTP2',
    'false',
    "Call the LLM API over HTTP/2 when it speaks it (OpenRouter does), every call on one connection; else HTTP/1.1, as without. Worth it above about 32 calls at once (`WORKER_CONCURRENCY`): Bun keeps at most 64 idle HTTP/1.1 connections per process, so more calls at once reconnect, a TLS handshake each. Bun's HTTP/2 client is marked experimental, hence off by default.",
    boolean,
  ),
  llmRetrySchedule: variable(
    'LLM_RETRY_SCHEDULE',
    '2s,10s,30s,2m',
    'Waits between LLM attempts after a retryable error (429, 408, 5xx, timeout, connection).',
    durationList,
  ),
  llmMaxRpm: variable(
    'LLM_MAX_RPM',
    '',
    'LLM calls started per minute at most; 0 is no limit. Empty: 20 for free models, else 0.',
    maxRpm,
  ),
  llmMaxPause: variable(
    'LLM_MAX_PAUSE',
    '5m',
    'Longest pause a 429 may impose on LLM calls (a model’s, or the account’s when OpenRouter’s limit headers say so); after it the call is tried again.',
    duration(1000),
  ),
  maxResponseChars: variable(
    'MAX_RESPONSE_CHARS',
    '100000',
    'Longest accepted LLM answer, in characters; a longer one fails the job with `llm_response_too_large` and never joins history.',
    integer(1, 10_000_000),
  ),
  systemPrompt: variable(
    'SYSTEM_PROMPT',
    'You are a helpful assistant.',
    'System prompt of every conversation unless a request brings its own.',
    text,
  ),
  historyMaxMessages: variable(
    'HISTORY_MAX_MESSAGES',
    '20',
    'How many of the newest history messages each LLM call sees.',
    integer(0, 10_000),
  ),
  historyMaxTokens: variable(
    'HISTORY_MAX_TOKENS',
    '8000',
    'Most tokens a prompt may take with its history: the newest history messages that fit beside the system prompt and the new message (counted with the cl100k tokenizer), never half a message; the new message always goes. 0: no token limit.',
    integer(0, 10_000_000),
  ),
  maxToolRounds: variable(
    'MAX_TOOL_ROUNDS',
    '8',
    'Most rounds of tool calls (`llm.tools`) one message may take; a model that asks for tools once more fails the job with `llm_tool_rounds`.',
    integer(1, 100),
  ),
  toolResultsTimeout: variable(
    'TOOL_RESULTS_TIMEOUT',
    '1h',
    'How long a job waits for `POST /jobs/{id}/tool_results` after its `job.tool_calls` event; then it fails with `tool_results_timeout` (its conversation waits meanwhile).',
    duration(1000),
  ),
  maxMessageChars: variable(
    'MAX_MESSAGE_CHARS',
    '32000',
    'Longest accepted `message`, in characters.',
    integer(1, 1_000_000),
  ),
  workerConcurrency: variable(
    'WORKER_CONCURRENCY',
    '16',
    'LLM calls at once. Callbacks have a pool as large of their own, so a slow receiver never holds up the LLM.',
    integer(1, 10_000),
  ),
  bunMaxHttpRequests: variable(
    'BUN_CONFIG_MAX_HTTP_REQUESTS',
    '256',
    "Bun's own: HTTP requests the runtime keeps open at once, read once at start. LLM calls and callbacks share it, so keep it at least 2 × `WORKER_CONCURRENCY` (the relay warns at start when it is lower).",
    integer(1, 65_535),
  ),
  memorySoftLimit: variable(
    'MEMORY_SOFT_LIMIT',
    '0',
    'Resident memory above which the relay collects its garbage at once (at most once a second) instead of waiting for the runtime, as Go’s GOMEMLIMIT: for thousands of calls held open (`WORKER_CONCURRENCY` in the thousands) on a memory budget. Set it about 10 % below the budget, e.g. `230MB` for 256 MB. 0: none.',
    memorySize,
  ),
  jobLease: variable(
    'JOB_LEASE',
    '2m',
    'How long a claimed job belongs to its worker before another may take it; renewed while it runs.',
    duration(100),
  ),
  callbackSecret: variable(
    'CALLBACK_SECRET',
    '',
    'Signing secret for callbacks (`whsec_` + base64). Set it to send `webhook-signature`.',
    callbackSecret,
    { secret: true },
  ),
  callbackSecretGrace: variable(
    'CALLBACK_SECRET_GRACE',
    '24h',
    'After a client’s signing secret is rotated, how long callbacks carry the old signature beside the new one.',
    duration(0),
  ),
  callbackTimeout: variable('CALLBACK_TIMEOUT', '10s', 'Time limit of one callback attempt.', duration(1)),
  callbackRetrySchedule: variable(
    'CALLBACK_RETRY_SCHEDULE',
    '5s,5m,30m,2h,5h,10h,10h',
    'Waits between callback attempts; after the last the job is `dead`.',
    durationList,
  ),
  callbackBreakerFailures: variable(
    'CALLBACK_BREAKER_FAILURES',
    '10',
    'Failed attempts in a row, across jobs, after which a callback origin (scheme, host, port) is open: its deliveries wait without spending attempts, one probe at a time; 0 turns the breaker off.',
    integer(0, 1_000_000),
  ),
  callbackBreakerProbe: variable(
    'CALLBACK_BREAKER_PROBE',
    '1m',
    'While an origin is open, how often one delivery goes out as a probe; its success closes the origin and releases the waiting deliveries.',
    duration(100),
  ),
  callbackMaxInFlightPerOrigin: variable(
    'CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN',
    '16',
    'Callbacks to one origin at once, per instance: one slow receiver never takes every delivery slot. As many connections to it stay open between callbacks.',
    integer(1, 10_000),
  ),
  operatorWebhookUrl: variable(
    'OPERATOR_WEBHOOK_URL',
    '',
    'Optional URL for the operator’s events (`endpoint.failing`, `endpoint.recovered`, `job.dead`), signed with `CALLBACK_SECRET`, retried, through the same address guard.',
    (raw: string): string | undefined => (raw.trim() === '' ? undefined : httpUrl(raw)),
  ),
  allowPrivateCallbackUrls: variable(
    'ALLOW_PRIVATE_CALLBACK_URLS',
    'false',
    'Allow callbacks to loopback and private addresses (local development only).',
    boolean,
  ),
  callbackAllowedHosts: variable(
    'CALLBACK_ALLOWED_HOSTS',
    '',
    'Comma list of hostnames (`hooks.example.com`) or suffixes (`.example.com`) callbacks may go to; empty: any public host.',
    hostList,
  ),
  apiKeys: variable(
    'API_KEYS',
    '',
    'Comma list of client keys (`key` or `name:key`); when set, every API route needs one.',
    apiKeys('key'),
    { secret: true },
  ),
  adminApiKeys: variable(
    'ADMIN_API_KEYS',
    '',
    'Comma list of operator keys (`key` or `name:key`): they work on every route, see and act on every client’s jobs, and list every client’s conversations. Setting only these closes the API too.',
    apiKeys('admin'),
    { secret: true },
  ),
  dataEncryptionKey: variable(
    'DATA_ENCRYPTION_KEY',
    '',
    'Optional comma list of `id:base64key` (32 bytes, `openssl rand -base64 32`): clients’ signing secrets and callback headers are stored encrypted (AES-256-GCM) with the first; the others still open what they sealed.',
    dataKeys,
    { secret: true },
  ),
  rateLimitMax: variable(
    'RATE_LIMIT_MAX',
    '60',
    'Requests per window and client; 0 turns the limit off.',
    integer(0, 1_000_000),
  ),
  rateLimitWindow: variable('RATE_LIMIT_WINDOW', '1m', 'Window of the rate limit.', duration(1)),
  trustProxy: variable(
    'TRUST_PROXY',
    'false',
    'Believe `X-Forwarded-For` for the client address (only behind a proxy that sets it).',
    boolean,
  ),
  maxBodyBytes: variable(
    'MAX_BODY_BYTES',
    '64KB',
    'Largest accepted request body (bytes, or with KB/MB); larger bodies get 413 before parsing.',
    byteSize,
  ),
  docsEnabled: variable('DOCS_ENABLED', 'true', 'Serve the API docs at /swagger and /swagger/json.', boolean),
  consoleEnabled: variable(
    'CONSOLE_ENABLED',
    'true',
    'Serve the operators’ console at /console (sign-in with an API key when API_KEYS is set; open like the API when not).',
    boolean,
  ),
  consoleSessionSecret: variable(
    'CONSOLE_SESSION_SECRET',
    '',
    'Signs console session cookies (32+ characters). Empty: a random secret per process, so a sign-in lasts until a restart and holds on that instance only; give every instance of a fleet the same one.',
    (raw: string): string | undefined => {
      if (raw === '') return undefined
      if (raw.length < 32) throw new Error(`must be at least 32 characters, got ${raw.length}`)
      return raw
    },
    { secret: true },
  ),
  consoleSessionTtl: variable(
    'CONSOLE_SESSION_TTL',
    '12h',
    'How long a console sign-in lasts.',
    duration(60_000),
  ),
  shutdownTimeout: variable(
    'SHUTDOWN_TIMEOUT',
    '30s',
    'On SIGTERM/SIGINT, how long running LLM calls and deliveries may finish; the rest is released to other instances.',
    duration(0),
  ),
  retention: variable(
    'RETENTION',
    '7d',
    'Delivered and dead jobs (and their attempts) are deleted this long after they finished.',
    duration(60_000),
  ),
  historyRetention: variable(
    'HISTORY_RETENTION',
    '',
    'If set, history messages older than this are deleted; empty keeps history until its conversation is deleted.',
    writing(
      (raw: string) => (raw.trim() === '' ? undefined : duration(60_000)(raw)),
      (ms) => (ms === undefined ? '' : formatDuration(ms)),
    ),
  ),
  logLevel: variable('LOG_LEVEL', 'info', 'fatal, error, warn, info, debug, trace or silent.', logLevel),
  logFormat: variable(
    'LOG_FORMAT',
    'json',
    '`json` (one JSON object a line) or `pretty` (readable, for a terminal).',
    (raw: string): 'json' | 'pretty' => {
      if (raw !== 'json' && raw !== 'pretty') throw new Error(`must be json or pretty, got "${raw}"`)
      return raw
    },
  ),
  otelEndpoint: variable(
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    '',
    'Optional: an OpenTelemetry collector’s OTLP/HTTP base URL (`http://collector:4318`); traces go to its `/v1/traces` as JSON: one trace per job, from POST /webhook through each LLM and callback attempt. Empty: no tracing, and none of its code is loaded.',
    (raw: string): string | undefined => (raw.trim() === '' ? undefined : httpUrl(raw)),
  ),
  otelHeaders: variable(
    'OTEL_EXPORTER_OTLP_HEADERS',
    '',
    'Headers sent with every export, as `name=value` pairs, comma-separated, values URL-encoded (a collector’s API key).',
    otlpHeaders,
    { secret: true },
  ),
  otelServiceName: variable(
    'OTEL_SERVICE_NAME',
    'llm-relay',
    'The `service.name` of the spans this instance sends.',
    nonEmptyText('llm-relay'),
  ),
  appUrl: variable(
    'APP_URL',
    'https://github.com/llm-relay/llm-relay',
    'Sent to OpenRouter as `HTTP-Referer` (app attribution).',
    text,
  ),
  appName: variable('APP_NAME', 'llm-relay', 'Sent to OpenRouter as `X-Title` (app attribution).', text),
} as const

type Variables = typeof variables
type Parsed = { [K in keyof Variables]: ReturnType<Variables[K]['parse']> }

export type Config = Omit<Parsed, 'llmMaxRpm'> & {
  /** Resolved: 0 means no limit. */
  llmMaxRpm: number
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** OpenRouter's free tier: `openrouter/free` and every `:free` model id. */
export function isFreeModel(model: string): boolean {
  return model === 'openrouter/free' || model.endsWith(':free')
}

/** A key or a name in both lists would make an operator and a client one owner. */
function keyOverlaps(parsed: Pick<Parsed, 'apiKeys' | 'adminApiKeys'>): string[] {
  const problems: string[] = []
  for (const admin of parsed.adminApiKeys) {
    if (parsed.apiKeys.some((k) => k.key === admin.key))
      problems.push(
        `ADMIN_API_KEYS: the key named ${admin.name} is also in API_KEYS; give operators keys of their own`,
      )
    else if (admin.named && parsed.apiKeys.some((k) => k.named && k.name === admin.name))
      problems.push(`ADMIN_API_KEYS: the name ${admin.name} is also a client's in API_KEYS`)
  }
  return problems
}

/** Reads and validates the whole environment at once; throws one ConfigError naming every bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const problems: string[] = []
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(variables) as [keyof Variables, Variable<unknown>][]) {
    const names = [v.env, ...(v.aliases ?? [])]
    // An empty value counts as unset when an alias has one (`LLM_API_KEY=` beside OPENROUTER_API_KEY).
    const found =
      names.find((n) => env[n] !== undefined && env[n] !== '') ?? names.find((n) => env[n] !== undefined)
    const raw = found === undefined ? v.default : (env[found] as string)
    try {
      out[key] = v.parse(raw)
    } catch (error) {
      problems.push(`${found ?? v.env}: ${(error as Error).message}`)
    }
  }
  if (problems.length === 0) problems.push(...keyOverlaps(out as Parsed))
  if (problems.length > 0) throw new ConfigError(problems)
  const parsed = out as Parsed
  return {
    ...parsed,
    llmMaxRpm: parsed.llmMaxRpm ?? (isFreeModel(parsed.llmModel) ? 20 : 0),
  }
}

import type { Config } from './config.ts'

/** Bun 1.4's fetch: idle keep-alive connections kept per process (its HTTPContext pool). */
const HTTP1_IDLE_CONNECTIONS = 64

/**
 * What a valid configuration may still get wrong, said at every start and by `check-config`:
 * settings that work but that an operator should have chosen on purpose.
 */
export function startWarnings(config: Config): string[] {
  const warnings: string[] = []
  if (!config.llmApiKey)
    warnings.push('no LLM_API_KEY (or OPENROUTER_API_KEY) is set: every job will fail with llm_auth')
  if (config.allowPrivateCallbackUrls)
    warnings.push(
      'ALLOW_PRIVATE_CALLBACK_URLS is on: callbacks may reach loopback, private and metadata addresses',
    )
  const httpAtOnce = 2 * config.workerConcurrency
  if (config.role !== 'api' && httpAtOnce > config.bunMaxHttpRequests)
    warnings.push(
      `WORKER_CONCURRENCY=${config.workerConcurrency} allows ${httpAtOnce} HTTP requests at once (LLM calls and callbacks), but Bun keeps at most ${config.bunMaxHttpRequests} open: set BUN_CONFIG_MAX_HTTP_REQUESTS=${httpAtOnce} or more, or slow callback receivers can hold up LLM calls`,
    )
  if (
    config.role !== 'api' &&
    config.workerConcurrency > HTTP1_IDLE_CONNECTIONS / 2 &&
    !config.llmHttp2 &&
    config.llmBaseUrl.startsWith('https:')
  )
    warnings.push(
      `WORKER_CONCURRENCY=${config.workerConcurrency}: Bun keeps at most ${HTTP1_IDLE_CONNECTIONS} idle HTTP/1.1 connections per process for its fetch, so LLM calls beyond them reconnect (a TLS handshake each); set LLM_HTTP2=true if the LLM API speaks HTTP/2 (OpenRouter does)`,
    )
  if (config.apiKeys.length === 0 && config.adminApiKeys.length === 0)
    warnings.push('API_KEYS is empty, and ADMIN_API_KEYS too: the API is open to anyone who can reach it')
  if (config.consoleEnabled && config.database.kind === 'postgres' && !config.consoleSessionSecret)
    warnings.push(
      'CONSOLE_SESSION_SECRET is unset: a console sign-in holds only on the instance that made it, until it restarts; give every instance the same secret',
    )
  return warnings
}

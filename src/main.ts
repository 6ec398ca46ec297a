import { cron } from '@elysiajs/cron'
import { runCli } from './cli.ts'
import { type Clock, newJobId, systemClock } from './clock.ts'
import { type Config, ConfigError } from './config/config.ts'
import { AddressGuard, systemResolver } from './delivery/address-guard.ts'
import { HttpDeliverer } from './delivery/http-deliverer.ts'
import { createHttpApp } from './http/app.ts'
import { CallBudget } from './llm/call-budget.ts'
import { OpenAiLlmClient } from './llm/openai-client.ts'
import { createLogger, type Logger } from './log.ts'
import { Gauge, RelayMetrics } from './metrics.ts'
import { SqliteStore } from './store/sqlite.ts'
import type { Store } from './store/store.ts'
import { USER_AGENT, VERSION } from './version.ts'
import { runHousekeeping } from './worker/housekeeping.ts'
import { Worker } from './worker/worker.ts'

export interface Relay {
  url: string
  store: Store
  worker: Worker
  stop(): Promise<void>
}

export interface RelayParts {
  clock?: Clock
  logger?: Logger
  /** Name resolution for the callback address guard (tests bring their own). */
  resolve?: (hostname: string) => Promise<string[]>
}

function openStore(config: Config): Store {
  if (config.database.kind === 'sqlite') return new SqliteStore(config.database.path)
  throw new ConfigError(['DATABASE_URL: postgres:// is not supported by this build yet; use sqlite:<path>'])
}

/** The composition root: builds every part from the one Config and starts serving. */
export async function startRelay(config: Config, parts: RelayParts = {}): Promise<Relay> {
  const clock = parts.clock ?? systemClock
  const logger = parts.logger ?? createLogger(config.logLevel, undefined, config.logFormat)
  const store = openStore(config)
  const now = () => clock.now()
  const guard = new AddressGuard({
    allowPrivate: config.allowPrivateCallbackUrls,
    allowedHosts: config.callbackAllowedHosts,
    resolve: parts.resolve ?? systemResolver(),
  })
  const metrics = new RelayMetrics()
  const worker = new Worker({
    store,
    clock,
    logger,
    metrics,
    llm: new OpenAiLlmClient({
      baseUrl: config.llmBaseUrl,
      apiKey: config.llmApiKey,
      timeoutMs: config.llmTimeout,
      fallbackModels: config.llmFallbackModels,
      appUrl: config.appUrl,
      appName: config.appName,
      userAgent: USER_AGENT,
      now,
    }),
    deliverer: new HttpDeliverer({
      guard,
      secret: config.callbackSecret,
      timeoutMs: config.callbackTimeout,
      userAgent: USER_AGENT,
      now,
    }),
    budget: new CallBudget(config.llmMaxRpm),
    workerId: `${process.pid}-${newJobId()}`,
    concurrency: config.workerConcurrency,
    leaseMs: config.jobLease,
    historyMaxMessages: config.historyMaxMessages,
    llmRetrySchedule: config.llmRetrySchedule,
    callbackRetrySchedule: config.callbackRetrySchedule,
  })
  let accepting = true
  metrics.addGauge(
    new Gauge('llm_relay_queue_depth', 'Jobs by status.', async () =>
      Object.entries(await store.countJobsByStatus()).map(([status, n]) => [{ status }, n]),
    ),
  )
  metrics.addGauge(
    new Gauge('llm_relay_jobs_in_flight', 'Jobs this process is working on.', () => [
      [{}, worker.activeJobs],
    ]),
  )
  const app = createHttpApp({
    store,
    logger,
    metrics,
    version: VERSION,
    wake: () => worker.wake(),
    now,
    newId: newJobId,
    accepting: () => accepting,
    maxMessageChars: config.maxMessageChars,
    maxBodyBytes: config.maxBodyBytes,
    apiKeys: config.apiKeys,
    rateLimit: { max: config.rateLimitMax, windowMs: config.rateLimitWindow },
    trustProxy: config.trustProxy,
    docsEnabled: config.docsEnabled,
    defaultModel: config.llmModel,
    defaultSystemPrompt: config.systemPrompt,
    checkCallbackUrl: (url) => guard.check(url),
  })
  app.use(
    cron({
      name: 'housekeeping',
      // Hourly, at a minute that is nobody's round number.
      pattern: '17 * * * *',
      run: () => {
        runHousekeeping({
          store,
          logger,
          now,
          retentionMs: config.retention,
          historyRetentionMs: config.historyRetention,
        }).catch((err) => logger.error({ err }, 'housekeeping failed'))
      },
    }),
  )
  app.listen({ port: config.port, hostname: config.host })
  const server = app.server
  if (!server) throw new Error('the HTTP server did not start')
  worker.start()

  if (!config.llmApiKey)
    logger.warn('no LLM_API_KEY (or OPENROUTER_API_KEY) is set: every job will fail with llm_auth')
  if (config.allowPrivateCallbackUrls)
    logger.warn(
      'ALLOW_PRIVATE_CALLBACK_URLS is on: callbacks may reach loopback, private and metadata addresses',
    )
  if (config.apiKeys.length === 0)
    logger.warn('API_KEYS is empty: the API is open to anyone who can reach it')
  logger.info(
    { url: server.url.toString(), database: config.database.kind, model: config.llmModel, version: VERSION },
    'llm-relay started',
  )

  let stopping: Promise<void> | undefined
  return {
    url: server.url.toString().replace(/\/$/, ''),
    store,
    worker,
    stop() {
      stopping ??= (async () => {
        // Draining: new requests get 503 + Retry-After while running jobs finish.
        accepting = false
        logger.info({ timeout_ms: config.shutdownTimeout, in_flight: worker.activeJobs }, 'draining')
        await worker.stop(config.shutdownTimeout)
        await app.stop(true)
        await store.close()
        logger.info('llm-relay stopped')
      })()
      return stopping
    },
  }
}

async function main(): Promise<void> {
  const outcome = runCli(process.argv.slice(2))
  if (typeof outcome === 'number') process.exit(outcome)
  const relay = await startRelay(outcome.serve)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      relay.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      )
    })
  }
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`llm-relay: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  })
}

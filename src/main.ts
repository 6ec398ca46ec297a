/*
 * Longer than most files: the composition root builds every part from the one Config in one
 * place, so a reader sees every wire between the rooms here (the clients room composes itself in
 * src/clients/clients.ts, the backing in backing.ts).
 */
import { AnswerWaiters } from './answer/answer-waiters.ts'
import { openBacking } from './backing.ts'
import { checkHealth, cliIo, runCli } from './cli.ts'
import { openClients } from './clients/clients.ts'
import { createClientCommand } from './clients/create-client-command.ts'
import { type Clock, newJobId, systemClock, within } from './clock.ts'
import type { Config } from './config/config.ts'
import { startWarnings } from './config/warnings.ts'
import { DataEncryption } from './data-encryption.ts'
import { AddressGuard, systemResolver } from './delivery/address-guard.ts'
import { HttpDeliverer } from './delivery/http-deliverer.ts'
import { OperatorEvents } from './delivery/operator-events.ts'
import { OriginBreaker } from './delivery/origin-breaker.ts'
import { RememberedVerdicts } from './delivery/remembered-verdicts.ts'
import { createHttpApp } from './http/app.ts'
import { listenOn } from './http/listen.ts'
import { METADATA_MAX_BYTES } from './http/schemas.ts'
import { Intake } from './intake/intake.ts'
import type { ReconnectBackoff } from './limits/redis-connection.ts'
import { isOpenRouter } from './llm/chat-completion.ts'
import { OpenAiLlmClient } from './llm/openai-client.ts'
import { lazyTokenCounter } from './llm/token-count.ts'
import { createLogger, type Logger } from './log.ts'
import { startMemorySoftLimit } from './memory-limit.ts'
import { Gauge, RelayMetrics } from './metrics.ts'
import { configuredSecrets, SecretScrubber } from './scrub.ts'
import { originOf } from './store/origin-store.ts'
import type { Store } from './store/store.ts'
import { noTracer, type Tracer } from './telemetry/tracer.ts'
import { USER_AGENT, VERSION } from './version.ts'
import { ClientQuotas } from './worker/client-quotas.ts'
import { scheduleHousekeeping } from './worker/housekeeping.ts'
import { Liveness } from './worker/liveness.ts'
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
  /** How soon Redis is tried again after a failed connect (tests shorten it). */
  redisBackoff?: ReconnectBackoff
}

/** The composition root: builds every part from the one Config and starts serving. */
export async function startRelay(config: Config, parts: RelayParts = {}): Promise<Relay> {
  const clock = parts.clock ?? systemClock
  const logger = parts.logger ?? createLogger(config.logLevel, undefined, config.logFormat)
  const backing = await openBacking(config, { clock, logger, redisBackoff: parts.redisBackoff })
  const { store } = backing
  const guard = new AddressGuard({
    allowPrivate: config.allowPrivateCallbackUrls,
    allowedHosts: config.callbackAllowedHosts,
    resolve: parts.resolve ?? systemResolver(),
  })
  // Intake's first opinion of a callback URL, remembered for 10 s, waited for 2 s at most (delivery checks afresh).
  const verdicts = new RememberedVerdicts(guard, { ttlMs: 10_000, max: 1000, waitMs: 2000, clock })
  const metrics = new RelayMetrics()
  // Upstream text (LLM errors, callback errors) is scrubbed of these before it is logged, stored or sent.
  const secrets = new SecretScrubber(configuredSecrets(config))
  const scrub = (text: string) => secrets.scrub(text)
  const workerId = `${process.pid}-${newJobId()}`
  const tracer = await openTracer(config, { logger, scrub, instanceId: workerId })
  const encryption = new DataEncryption(config.dataEncryptionKey)
  const clients = await openClients({ clients: store.clients, encryption, clock, logger, config }).catch(
    async (error: unknown) => {
      await backing.close()
      throw error
    },
  )
  const deliverer = new HttpDeliverer({
    guard,
    encryption,
    secrets: clients.signingSecrets,
    timeoutMs: config.callbackTimeout,
    userAgent: USER_AGENT,
    clock,
    idleConnectionsPerOrigin: config.callbackMaxInFlightPerOrigin,
  })
  // The tokenizer's tables load with the first prompt; not at all where no worker runs or
  // HISTORY_MAX_TOKENS is 0.
  const tokens = config.role !== 'api' && config.historyMaxTokens > 0 ? lazyTokenCounter() : undefined
  // Prefer: wait. Another process on the database may answer (a fleet, or api and worker
  // processes on one SQLite file): while anyone waits, one read a second asks the store.
  const waiters = new AnswerWaiters(clock, {
    intervalMs: 1000,
    check: (jobIds) => store.settledAmong(jobIds),
  })
  const events =
    config.operatorWebhookUrl === undefined
      ? undefined
      : new OperatorEvents({
          url: config.operatorWebhookUrl,
          send: (url, id, body, secrets) => deliverer.send(url, id, body, secrets),
          secret: config.callbackSecret,
          clock,
          logger,
          newId: newJobId,
        })
  const breaker = new OriginBreaker({
    origins: store.origins,
    clock,
    policy: { threshold: config.callbackBreakerFailures, probeMs: config.callbackBreakerProbe },
    maxInFlight: config.callbackMaxInFlightPerOrigin,
    onChange: (origin, change, error) => {
      const opened = change === 'opened'
      logger.warn(
        { origin, code: error?.code },
        opened ? 'callback origin open: its deliveries wait for a probe' : 'callback origin closed again',
      )
      events?.emit(
        opened ? 'endpoint.failing' : 'endpoint.recovered',
        opened ? { origin, failures: config.callbackBreakerFailures, last_error: error } : { origin },
      )
      // Its waiting deliveries are due now.
      if (change === 'closed') worker.wake()
    },
  })
  const worker = new Worker({
    store,
    breaker,
    quotas: new ClientQuotas({ limitsOf: clients.limitsOf, usage: store.usage }),
    fairShare: config.llmMaxRpm > 0,
    onDead: (job, error) =>
      events?.emit('job.dead', {
        id: job.id,
        conversation_id: job.conversationId,
        owner: job.owner,
        callback_origin: originOf(job.callbackUrl),
        error,
      }),
    clock,
    logger,
    metrics,
    llm: new OpenAiLlmClient({
      baseUrl: config.llmBaseUrl,
      apiKey: config.llmApiKey,
      timeoutMs: config.llmTimeout,
      http2: config.llmHttp2,
      fallbackModels: config.llmFallbackModels,
      usageAccounting: isOpenRouter(config.llmBaseUrl),
      appUrl: config.appUrl,
      appName: config.appName,
      userAgent: USER_AGENT,
      clock,
      scrub,
    }),
    deliverer,
    budget: backing.limits.budget,
    workerId,
    concurrency: config.workerConcurrency,
    leaseMs: config.jobLease,
    historyMaxMessages: config.historyMaxMessages,
    historyMaxTokens: config.historyMaxTokens,
    tokens,
    onSettled: (jobId) => waiters.settled(jobId),
    tracer,
    llmRetrySchedule: config.llmRetrySchedule,
    callbackRetrySchedule: config.callbackRetrySchedule,
    llmMaxPauseMs: config.llmMaxPause,
    maxResponseChars: config.maxResponseChars,
    toolRounds: { maxToolRounds: config.maxToolRounds, resultsTimeoutMs: config.toolResultsTimeout },
    scrub,
  })
  let accepting = true
  metrics.addGauge(
    // Without the database the series are left out, not the whole scrape: during an outage the
    // other metrics (llm_relay_dependency_up first) are what an operator needs.
    new Gauge('llm_relay_queue_depth', 'Unfinished jobs by status.', () =>
      within(clock, 1000, 'queue depth', store.countOpenJobs()).then(
        (counts) => Object.entries(counts).map(([status, n]) => [{ status }, n]),
        () => [],
      ),
    ),
  )
  metrics.addGauge(
    new Gauge('llm_relay_dependency_up', 'Whether each dependency answers now: 1 up, 0 down.', () =>
      Promise.all(
        backing.readiness.map(
          async (check) => [{ dependency: check.name }, (await check.isUp()) ? 1 : 0] as const,
        ),
      ),
    ),
  )
  metrics.addGauge(
    new Gauge(
      'llm_relay_waiting_requests',
      'POST /webhook requests waiting for their answer (Prefer: wait).',
      () => [[{}, waiters.waiting]],
    ),
  )
  metrics.addGauge(
    new Gauge('llm_relay_jobs_in_flight', 'Jobs this process is working on.', () => [
      [{}, worker.activeJobs],
    ]),
  )
  metrics.addGauge(
    new Gauge(
      'llm_relay_llm_paused_until_seconds',
      'Rate-limit pauses of LLM calls in force, as the Unix time they end: one model (this instance) or the account.',
      () => worker.activePauses().map((p) => [{ scope: p.scope, model: p.model ?? '' }, p.until / 1000]),
    ),
  )
  const intake = new Intake({
    store,
    encryption,
    clock,
    logger,
    newId: newJobId,
    defaultModel: config.llmModel,
    defaultSystemPrompt: config.systemPrompt,
    defaultParameters: { temperature: config.llmTemperature, maxTokens: config.llmMaxTokens },
    metadataMaxBytes: METADATA_MAX_BYTES,
    checkCallbackUrl: (url) => verdicts.check(url),
    onAccepted: (job) => {
      metrics.jobsAccepted.inc()
      // A job accepted and claimed runs already; a queued one is the claim loop's.
      if (job.status === 'queued') worker.wake()
    },
    // Only a process whose worker runs (not RELAY_ROLE=api) takes jobs at accept.
    ...(config.role !== 'api' ? { offerClaim: () => worker.offerClaim() } : {}),
  })
  const app = createHttpApp({
    store,
    intake,
    waiters,
    storedKeys: clients.keys,
    clients: clients.service,
    logger,
    metrics,
    clock,
    version: VERSION,
    wake: () => worker.wake(),
    onCancelled: (job, from) => {
      // No callback carries anything for a cancelled job: its type is `none`.
      metrics.jobsFinished.inc({ status: 'cancelled', type: 'none' })
      logger.info({ job_id: job.id, conversation_id: job.conversationId, from }, 'job cancelled')
      worker.jobCancelled(job.id)
      waiters.settled(job.id)
      // Its conversation's next message may be due now.
      worker.wake()
    },
    accepting: () => accepting,
    readiness: backing.readiness,
    maxMessageChars: config.maxMessageChars,
    maxBodyBytes: config.maxBodyBytes,
    apiKeys: config.apiKeys,
    adminApiKeys: config.adminApiKeys,
    rateLimit: {
      max: config.rateLimitMax,
      windowMs: config.rateLimitWindow,
      store: backing.limits.rateLimit,
    },
    serveApi: config.role !== 'worker',
    trustProxy: config.trustProxy,
    publicUrl: config.publicUrl,
    docsEnabled: config.docsEnabled,
    tracer,
    ...(config.consoleEnabled
      ? {
          console: {
            clock,
            budget: backing.limits.budget,
            pauses: () => worker.activePauses(),
            llmMaxRpm: config.llmMaxRpm,
            sessionSecret: config.consoleSessionSecret,
            sessionTtlMs: config.consoleSessionTtl,
          },
        }
      : {}),
  })
  let server: ReturnType<typeof listenOn>
  try {
    server = listenOn(app, config.port, config.host)
  } catch (error) {
    await backing.close()
    await tracer.shutdown()
    throw error
  }
  // Only once listening: a start that fails leaves no timer behind.
  const housekeeping = scheduleHousekeeping({
    store,
    logger,
    clock,
    retentionMs: config.retention,
    historyRetentionMs: config.historyRetention,
  })
  const memoryLimit =
    config.memorySoftLimit === 0
      ? undefined
      : startMemorySoftLimit({
          limitBytes: config.memorySoftLimit,
          clock,
          rss: () => process.memoryUsage.rss(),
          collect: () => Bun.gc(true),
          onCollected: () => metrics.memoryCollections.inc(),
        })
  if (memoryLimit) metrics.memoryCollections.inc({}, 0)
  const works = config.role !== 'api'
  // Another instance's accepted job wakes this one at once (PostgreSQL LISTEN/NOTIFY).
  const unlisten = works && store.listen ? await store.listen(() => worker.wake()) : undefined
  // Before the first claim: the leases a crashed worker left are released and taken first.
  const liveness = works
    ? new Liveness({ store, clock, logger, workerId, onRecovered: () => worker.wake() })
    : undefined
  await liveness?.start()
  if (works) worker.start()

  for (const warning of startWarnings(config)) logger.warn(warning)
  logger.info(
    {
      url: server.url.toString(),
      database: config.database.kind,
      role: config.role,
      model: config.llmModel,
      version: VERSION,
    },
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
        await unlisten?.()
        housekeeping.cancel()
        memoryLimit?.cancel()
        await worker.stop(config.shutdownTimeout)
        await liveness?.stop()
        // Whoever still waits on Prefer: wait gets its 202: the job is committed.
        waiters.releaseAll()
        events?.close()
        deliverer.close()
        // Those 202s are still on their way out: each connection closes once its response is
        // written, and whatever is still open after HTTP_CLOSE_MS (a client slow to send) is cut.
        await within(clock, HTTP_CLOSE_MS, 'closing connections', app.stop(false)).catch(() => app.stop(true))
        await backing.close()
        // The last spans go out before the process does, unless the collector keeps it waiting.
        await within(clock, TRACES_FLUSH_MS, 'sending the last spans', tracer.shutdown()).catch(
          (err: unknown) => logger.warn({ err }, 'traces: the last spans could not be sent'),
        )
        logger.info('llm-relay stopped')
      })()
      return stopping
    },
  }
}

/** How long a stop waits for the responses in flight (released waiters' 202s) before it cuts connections. */
const HTTP_CLOSE_MS = 1000

/** How long a stop waits for the last spans to reach the collector. */
const TRACES_FLUSH_MS = 3000

/**
 * The OpenTelemetry SDK only with OTEL_EXPORTER_OTLP_ENDPOINT: without it, not even loaded, and
 * every call site's cost is a check for undefined.
 */
async function openTracer(
  config: Config,
  o: { logger: Logger; scrub: (text: string) => string; instanceId: string },
): Promise<Tracer> {
  if (config.otelEndpoint === undefined) return noTracer
  const { OtlpTracer } = await import('./telemetry/otlp-tracer.ts')
  return new OtlpTracer({
    ...o,
    endpoint: config.otelEndpoint,
    headers: config.otelHeaders,
    serviceName: config.otelServiceName,
    serviceVersion: VERSION,
  })
}

async function main(): Promise<void> {
  const outcome = runCli(process.argv.slice(2))
  if (typeof outcome === 'number') process.exit(outcome)
  if ('healthcheck' in outcome) process.exit(await checkHealth(outcome.healthcheck))
  if ('createClient' in outcome)
    process.exit(await createClientCommand(outcome.config, outcome.createClient, cliIo))
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

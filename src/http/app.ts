import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'
import type { AnswerWaiters } from '../answer/answer-waiters.ts'
import type { StoredClientKeys } from '../clients/client-auth.ts'
import type { ClientService } from '../clients/client-service.ts'
import { clientIdOfOwner } from '../clients/credentials.ts'
import type { Clock } from '../clock.ts'
import type { ApiKey } from '../config/config.ts'
import { type ConsoleWiring, consolePlugin } from '../console/console.ts'
import type { Intake } from '../intake/intake.ts'
import type { Logger } from '../log.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { CancellableStatus, Job, Store } from '../store/store.ts'
import type { Tracer } from '../telemetry/tracer.ts'
import { accessLog } from './access-log.ts'
import { AllowedMethods } from './allowed-methods.ts'
import { apiKeyGuard } from './api-key-guard.ts'
import { ApiKeyAuth } from './auth.ts'
import { drainingGate } from './draining.ts'
import { FailedAuthLimit } from './failed-auth-limit.ts'
import { headerLimit } from './header-limit.ts'
import { jobView } from './job-view.ts'
import { correctOpenApiDocument } from './openapi-document.ts'
import { problemMapping } from './problem-mapping.ts'
import { type ApiRateLimit, apiRateLimit } from './rate-limit.ts'
import { clientAddress, RequestInfos, type Server } from './request-info.ts'
import { callbackOriginRoutes } from './routes/callback-origins.ts'
import { clientRoutes } from './routes/clients.ts'
import { conversationListingRoutes } from './routes/conversation-listing.ts'
import { conversationRoutes } from './routes/conversations.ts'
import { docsRoutes } from './routes/docs.ts'
import { healthRoutes, type ReadinessCheck } from './routes/health.ts'
import { jobListingRoutes } from './routes/job-listing.ts'
import { jobRoutes } from './routes/jobs.ts'
import { rootRoutes } from './routes/root.ts'
import { toolResultsRoutes } from './routes/tool-results.ts'
import { usageRoutes } from './routes/usage.ts'
import { webhookRoutes } from './routes/webhook.ts'
import { statusUrlOrigin } from './status-url.ts'

export interface HttpAppDeps {
  store: Store
  intake: Intake
  /** Where `Prefer: wait` requests wait for their answer. */
  waiters: AnswerWaiters
  logger: Logger
  metrics: RelayMetrics
  clock: Clock
  version: string
  wake: () => void
  /** A job was cancelled by a request here. */
  onCancelled: (job: Job, from: CancellableStatus) => void
  accepting: () => boolean
  /** What /ready checks beside `accepting`: the store, and Redis when it keeps the limits. */
  readiness: readonly ReadinessCheck[]
  maxMessageChars: number
  maxBodyBytes: number
  apiKeys: readonly ApiKey[]
  adminApiKeys: readonly ApiKey[]
  /** The stored clients' keys; absent, only API_KEYS. */
  storedKeys?: StoredClientKeys
  /** The admin routes for clients; absent, not served. */
  clients?: ClientService
  rateLimit: ApiRateLimit
  trustProxy: boolean
  /** PUBLIC_URL: the origin of every `status_url` when set. */
  publicUrl: string | undefined
  docsEnabled: boolean
  /** False for RELAY_ROLE=worker: only health, readiness and metrics are served. */
  serveApi: boolean
  /** Where each job's trace starts: POST /webhook. */
  tracer: Tracer
  /** The operators' console at /console; absent (CONSOLE_ENABLED=false), not served. */
  console?: ConsoleWiring
}

/** The HTTP app: the plugins every request passes, in order, then the routes. */
export function createHttpApp(deps: HttpAppDeps) {
  const auth = new ApiKeyAuth(deps.apiKeys, deps.adminApiKeys, deps.storedKeys)
  const owner = (request: Request): string => auth.clientOf(request).owner
  const visibleOwner = (request: Request) => auth.visibleOwner(request)
  const infos = new RequestInfos()
  const allowed = new AllowedMethods(() => app.routes)
  const stored = deps.storedKeys
  // One count of wrong keys per address, for the API and the console's sign-in alike.
  const failedAuth = new FailedAuthLimit(deps.rateLimit.max, deps.rateLimit.windowMs)
  // normalize off: a body is validated as sent, never coerced (Elysia would turn an array into an object).
  const app = new Elysia({ normalize: false })
    .use(infos.plugin())
    .use(headerLimit())
    .use(drainingGate(deps.accepting))
    .use(
      apiKeyGuard({
        auth,
        failedAuth,
        clock: deps.clock,
        trustProxy: deps.trustProxy,
      }),
    )
  // Counted once the key is known; before the problem mapping, so its error hook sees a failure
  // first. Stored clients may bring a rate limit of their own even where RATE_LIMIT_MAX is 0.
  if (deps.rateLimit.max > 0 || deps.storedKeys)
    app.use(
      apiRateLimit(deps.rateLimit, (request) => auth.clientOf(request), {
        trustProxy: deps.trustProxy,
        clock: deps.clock,
      }),
    )
  app
    .use(problemMapping({ logger: deps.logger, infos, allowed }))
    .use(
      accessLog({
        logger: deps.logger,
        metrics: deps.metrics,
        infos,
        clientName: (r) => auth.clientOf(r).name,
      }),
    )
    .onAfterHandle({ as: 'global' }, ({ path, response }) => {
      if (path === '/swagger/json') return correctOpenApiDocument(response)
    })
  return app
    .use(
      openapi({
        enabled: deps.docsEnabled,
        path: '/swagger',
        specPath: '/swagger/json',
        // The UI page is ours (docsRoutes), served from embedded files instead of a CDN.
        provider: null,
        documentation: {
          info: {
            title: 'llm-relay',
            version: deps.version,
            description:
              'Send a message and a callback URL; llm-relay answers it with an LLM, keeps each conversation’s history, and delivers the answer to the callback: durably, in order, signed (Standard Webhooks), with retries. Errors are RFC 9457 problem details (`application/problem+json`).',
          },
          tags: [
            { name: 'Messages', description: 'Send messages to answer.' },
            { name: 'Jobs', description: 'Follow a message through the relay.' },
            { name: 'Conversations', description: 'Read and forget history.' },
            { name: 'Operations', description: 'Health and readiness.' },
            { name: 'Clients', description: 'Operators manage clients: keys, signing secrets, limits.' },
          ],
        },
      }),
    )
    .use(
      rootRoutes({
        ...(deps.docsEnabled ? { docs: '/swagger', openapi: '/swagger/json' } : {}),
        ...(deps.console && deps.serveApi ? { console: '/console' } : {}),
      }),
    )
    .use(deps.docsEnabled ? docsRoutes('llm-relay API') : new Elysia())
    .use(healthRoutes({ accepting: deps.accepting, checks: deps.readiness, metrics: deps.metrics }))
    .use(
      deps.serveApi
        ? new Elysia()
            .use(
              webhookRoutes({
                intake: deps.intake,
                client: (request) => auth.clientOf(request),
                maxMessageChars: deps.maxMessageChars,
                maxBodyBytes: deps.maxBodyBytes,
                statusUrlOrigin: (request) =>
                  statusUrlOrigin(request, { publicUrl: deps.publicUrl, trustProxy: deps.trustProxy }),
                markAccepted: (request, job) => infos.markAccepted(request, job),
                waitForAnswer: async (job, ms, signal) => {
                  if (!(await deps.waiters.wait(job.id, ms, signal))) return undefined
                  const answered = await deps.store.getJob(job.id, job.owner, deps.clock.now())
                  return answered && jobView(answered, await deps.store.listDeliveryAttempts(job.id))
                },
                tracer: deps.tracer,
              }),
            )
            .use(
              jobListingRoutes({
                store: deps.store,
                wake: deps.wake,
                clock: deps.clock,
                visibleOwner,
                maxBodyBytes: deps.maxBodyBytes,
              }),
            )
            .use(
              jobRoutes({
                store: deps.store,
                wake: deps.wake,
                clock: deps.clock,
                visibleOwner,
                onCancelled: deps.onCancelled,
              }),
            )
            .use(conversationListingRoutes({ store: deps.store, visibleOwner }))
            .use(
              toolResultsRoutes({
                store: deps.store,
                wake: deps.wake,
                clock: deps.clock,
                visibleOwner,
                maxBodyBytes: deps.maxBodyBytes,
              }),
            )
            .use(conversationRoutes({ store: deps.store, owner }))
            .use(
              usageRoutes({
                usage: deps.store.usage,
                now: () => deps.clock.now(),
                visibleOwner: (request) => {
                  const client = auth.clientOf(request)
                  return !auth.enabled || client.admin ? undefined : client.owner
                },
                describeOwner: async (owner) => {
                  const id = clientIdOfOwner(owner)
                  const client = id === undefined ? undefined : await deps.store.clients.getClient(id)
                  return { name: client?.name ?? owner, clientId: id ?? null }
                },
              }),
            )
            .use(
              callbackOriginRoutes({
                origins: deps.store.origins,
                isAdmin: (request) => auth.clientOf(request).admin,
              }),
            )
            .use(
              deps.clients
                ? clientRoutes({
                    clients: deps.clients,
                    isAdmin: (request) => auth.clientOf(request).admin,
                    maxBodyBytes: deps.maxBodyBytes,
                  })
                : new Elysia(),
            )
            .use(
              deps.console
                ? consolePlugin({
                    ...deps.console,
                    store: deps.store,
                    metrics: deps.metrics,
                    wake: deps.wake,
                    onCancelled: deps.onCancelled,
                    keys: {
                      enabled: () => auth.enabled,
                      environmentKeys: [...deps.apiKeys, ...deps.adminApiKeys].map((k) => k.key),
                      identifyEnvironmentKey: (key) => auth.identifyEnvironmentKey(key),
                      ...(stored
                        ? {
                            resolveStoredKey: (key: string) => stored.resolve(key),
                            storedClient: (id: string) => deps.store.clients.getClient(id),
                          }
                        : {}),
                    },
                    isHttps: (request) =>
                      statusUrlOrigin(request, {
                        publicUrl: deps.publicUrl,
                        trustProxy: deps.trustProxy,
                      }).startsWith('https:'),
                    addressOf: (request) => clientAddress(request, app.server as Server, deps.trustProxy),
                    failedSignIns: failedAuth,
                    version: deps.version,
                    docsEnabled: deps.docsEnabled,
                  })
                : new Elysia(),
            )
        : new Elysia(),
    )
}

export type HttpApp = ReturnType<typeof createHttpApp>

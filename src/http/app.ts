import { openapi } from '@elysiajs/openapi'
import { Elysia, ValidationError } from 'elysia'
import { type Context as RateLimitContext, rateLimit } from 'elysia-rate-limit'
import type { ApiKey } from '../config/config.ts'
import type { Logger } from '../log.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { Store } from '../store/store.ts'
import { ApiKeyAuth, isOpenPath } from './auth.ts'
import { FailedAuthLimit } from './failed-auth-limit.ts'
import { correctOpenApiDocument } from './openapi-document.ts'
import { type FieldError, Problem, problemResponse } from './problem.ts'
import { conversationRoutes } from './routes/conversations.ts'
import { docsRoutes } from './routes/docs.ts'
import { healthRoutes, type ReadinessCheck } from './routes/health.ts'
import { jobRoutes } from './routes/jobs.ts'
import { webhookRoutes } from './routes/webhook.ts'

export interface HttpAppDeps {
  store: Store
  logger: Logger
  metrics: RelayMetrics
  version: string
  wake: () => void
  now: () => number
  newId: () => string
  accepting: () => boolean
  /** What /ready checks beside `accepting`: the store, and Redis when it keeps the limits. */
  readiness: readonly ReadinessCheck[]
  maxMessageChars: number
  maxBodyBytes: number
  defaultModel: string
  defaultSystemPrompt: string
  apiKeys: readonly ApiKey[]
  checkCallbackUrl: (url: string) => Promise<{ ok: true } | { ok: false; reason: string }>
  /** `store`: where windows are counted; absent, in this process's memory. */
  rateLimit: { max: number; windowMs: number; store?: RateLimitContext }
  trustProxy: boolean
  docsEnabled: boolean
  /** False for RELAY_ROLE=worker: only health, readiness and metrics are served. */
  serveApi: boolean
}

/** Where the path of an absolute request URL starts (Bun hands handlers normalized ones). */
function pathStart(url: string): number {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  return start === -1 ? url.length : start
}

/** `new URL(url).pathname` without building a URL: the path is read on every request. */
export function pathOf(url: string): string {
  const start = pathStart(url)
  let end = url.length
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c === 63 /* ? */ || c === 35 /* # */) {
      end = i
      break
    }
  }
  return start === end ? '/' : url.slice(start, end)
}

// The origins of the request URLs seen so far (a handful: one per name the relay is reached by).
const origins = new Map<string, string>()

function originOf(url: string): string {
  const prefix = url.slice(0, pathStart(url))
  let origin = origins.get(prefix)
  if (origin === undefined) {
    origin = new URL(prefix).origin
    if (origins.size >= 64) origins.clear()
    origins.set(prefix, origin)
  }
  return origin
}

/** Behind a trusted proxy, the scheme and host the client used (`X-Forwarded-Proto`/`-Host`). */
function publicOrigin(request: Request, trustProxy: boolean): string {
  if (!trustProxy) return originOf(request.url)
  const url = new URL(request.url)
  const proto = request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim()
  const host = request.headers.get('x-forwarded-host')?.split(',')[0]?.trim()
  const scheme = proto === 'http' || proto === 'https' ? proto : url.protocol.slice(0, -1)
  return `${scheme}://${host && /^[\w.-]+(:\d+)?$/.test(host) ? host : url.host}`
}

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** A caller's X-Request-Id when it is a sane token, else a fresh one. */
function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id')
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID()
}

type Server = { requestIP(request: Request): { address: string } | null } | null

/** The client's address: the socket's, or with TRUST_PROXY the first `X-Forwarded-For` hop. */
function clientAddress(request: Request, server: Server, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-for')?.split(',')[0]?.trim()
    if (forwarded) return forwarded
  }
  return server?.requestIP(request)?.address ?? 'unknown'
}

function fieldErrors(error: ValidationError): FieldError[] {
  const seen = new Set<string>()
  const out: FieldError[] = []
  for (const e of error.all) {
    const field = e.path === '' ? '/' : e.path
    const custom = (e.schema as { 'x-error'?: string })['x-error']
    const message = custom ?? (e.summary ?? e.message).replace(/^Property '[^']*' /, '')
    const key = `${field}\u0000${message}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ field, message })
  }
  return out
}

/** Every error leaves as RFC 9457 problem+json; nothing internal leaks into it. */
function toProblem(code: string | number, error: unknown): Problem {
  if (error instanceof Problem) return error
  // A Problem thrown by our body reader arrives wrapped in Elysia's ParseError.
  if (error instanceof Error && error.cause instanceof Problem) return error.cause
  if (code === 'VALIDATION' && error instanceof ValidationError) {
    const where = error.type === 'body' ? 'request body' : error.type
    return new Problem(422, `The ${where} failed validation.`, fieldErrors(error))
  }
  if (code === 'PARSE') return new Problem(400, 'The body could not be parsed.')
  if (code === 'NOT_FOUND') return new Problem(404, 'No such route.')
  return new Problem(500, 'The relay failed to handle this request; nothing was accepted.')
}

export function createHttpApp(deps: HttpAppDeps) {
  const auth = new ApiKeyAuth(deps.apiKeys)
  const owner = (request: Request): string => auth.clientOf(request).owner
  const failedAuth = new FailedAuthLimit(deps.rateLimit.max, deps.rateLimit.windowMs)
  const requests = new WeakMap<
    Request,
    { started: number; id: string; accepted?: { id: string; conversationId: string } }
  >()
  // normalize off: a body is validated as sent, never coerced (Elysia would turn an array into an object).
  const app = new Elysia({ normalize: false })
    .onRequest(({ request, set, server }) => {
      const id = requestIdOf(request)
      requests.set(request, { started: performance.now(), id })
      set.headers['x-request-id'] = id
      set.headers['x-content-type-options'] = 'nosniff'
      const path = pathOf(request.url)
      if (!deps.accepting() && path !== '/health' && path !== '/ready')
        throw new Problem(503, 'The relay is shutting down; try again in a moment.', undefined, {
          'retry-after': '5',
        })
      // Before the body is read: a stranger learns nothing about what a valid body is.
      // Without API_KEYS there is no key to check, and no failed check to count.
      if (isOpenPath(path) || !auth.enabled) return
      const address = clientAddress(request, server as Server, deps.trustProxy)
      failedAuth.check(address, Date.now())
      try {
        auth.authenticate(request, path)
      } catch (error) {
        failedAuth.record(address, Date.now())
        throw error
      }
    })
    .onError({ as: 'global' }, ({ code, error, request }) => {
      const problem = toProblem(code, error)
      const path = pathOf(request.url)
      if (problem.status >= 500)
        deps.logger.error({ err: error, path, request_id: requests.get(request)?.id }, 'request failed')
      const response = problemResponse(problem, path)
      const id = requests.get(request)?.id
      if (id) response.headers.set('x-request-id', id)
      return response
    })
    .onAfterResponse({ as: 'global' }, (context) => {
      const { request, path, set } = context
      const seen = requests.get(request)
      const ms = seen === undefined ? 0 : performance.now() - seen.started
      const status = typeof set.status === 'number' ? set.status : 200
      // The route pattern, not the path, so job ids do not each become a series.
      const route = (context as { route?: string }).route ?? 'unmatched'
      deps.metrics.httpDuration.observe({ method: request.method, route, status: String(status) }, ms / 1000)
      const line = {
        request_id: seen?.id,
        method: request.method,
        route,
        path,
        status,
        ms: Math.round(ms * 100) / 100,
        client: auth.clientOf(request).name,
      }
      // A request that accepted a job is also that job's acceptance line (one line, not two).
      const job = seen?.accepted
      if (job)
        deps.logger.info(
          { ...line, job_id: job.id, conversation_id: job.conversationId, outcome: 'accepted' },
          'request',
        )
      else deps.logger.info(line, 'request')
    })
    .onAfterHandle({ as: 'global' }, ({ path, response }) => {
      if (path === '/swagger/json') return correctOpenApiDocument(response)
    })
  if (deps.rateLimit.max > 0) {
    app.use(
      rateLimit({
        max: deps.rateLimit.max,
        duration: deps.rateLimit.windowMs,
        ...(deps.rateLimit.store ? { context: deps.rateLimit.store } : {}),
        scoping: 'global',
        generator: (request, server) =>
          auth.clientOf(request).owner !== ''
            ? `key:${auth.clientOf(request).owner}`
            : `ip:${clientAddress(request, server as Server, deps.trustProxy)}`,
        skip: (request) => {
          const path = pathOf(request.url)
          return isOpenPath(path) || path === '/metrics'
        },
        errorResponse: problemResponse(
          new Problem(429, 'Too many requests: wait for the time in Retry-After, then try again.'),
          '',
        ),
      }),
    )
  }
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
          ],
        },
      }),
    )
    .use(deps.docsEnabled ? docsRoutes('llm-relay API') : new Elysia())
    .use(healthRoutes({ accepting: deps.accepting, checks: deps.readiness, metrics: deps.metrics }))
    .use(
      deps.serveApi
        ? new Elysia()
            .use(
              webhookRoutes({
                ...deps,
                owner,
                publicOrigin: (request) => publicOrigin(request, deps.trustProxy),
                onAccepted: (job, request) => {
                  const seen = requests.get(request)
                  if (seen) seen.accepted = { id: job.id, conversationId: job.conversationId }
                  deps.metrics.jobsAccepted.inc()
                  deps.wake()
                },
              }),
            )
            .use(jobRoutes({ ...deps, owner }))
            .use(conversationRoutes({ store: deps.store, owner }))
        : new Elysia(),
    )
}

export type HttpApp = ReturnType<typeof createHttpApp>

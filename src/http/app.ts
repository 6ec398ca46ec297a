import { openapi } from '@elysiajs/openapi'
import { Elysia, ValidationError } from 'elysia'
import type { Logger } from '../log.ts'
import type { Store } from '../store/store.ts'
import { correctOpenApiDocument } from './openapi-document.ts'
import { type FieldError, Problem, problemResponse } from './problem.ts'
import { conversationRoutes } from './routes/conversations.ts'
import { healthRoutes } from './routes/health.ts'
import { jobRoutes } from './routes/jobs.ts'
import { webhookRoutes } from './routes/webhook.ts'

export interface HttpAppDeps {
  store: Store
  logger: Logger
  version: string
  wake: () => void
  now: () => number
  newId: () => string
  accepting: () => boolean
  maxMessageChars: number
  maxBodyBytes: number
  defaultModel: string
  defaultSystemPrompt: string
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
  // Until API keys scope ownership, every request shares one owner.
  const owner = (_request: Request): string => ''
  // normalize off: a body is validated as sent, never coerced (Elysia would turn an array into an object).
  return new Elysia({ normalize: false })
    .onError(({ code, error, request }) => {
      const problem = toProblem(code, error)
      if (problem.status >= 500)
        deps.logger.error({ err: error, path: new URL(request.url).pathname }, 'request failed')
      return problemResponse(problem, new URL(request.url).pathname)
    })
    .onAfterHandle({ as: 'global' }, ({ set, path, response }) => {
      set.headers['x-content-type-options'] = 'nosniff'
      if (path === '/swagger/json') return correctOpenApiDocument(response)
    })
    .use(
      openapi({
        path: '/swagger',
        specPath: '/swagger/json',
        provider: 'swagger-ui',
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
    .use(healthRoutes({ store: deps.store, accepting: deps.accepting }))
    .use(webhookRoutes({ ...deps, owner }))
    .use(jobRoutes({ ...deps, owner }))
    .use(conversationRoutes({ store: deps.store, owner }))
}

export type HttpApp = ReturnType<typeof createHttpApp>

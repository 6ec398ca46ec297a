import { isOpenPath } from './auth.ts'
import { documentedProblem, HEADERS, PROBLEM_SCHEMA_REF, type ProblemContext } from './openapi-problems.ts'
import { jsonSchemaOf, normalizeSchema } from './openapi-schema.ts'
import { callbackSchemas, callbackWebhooks } from './openapi-webhooks.ts'
import { ProblemSchema } from './problem.ts'

/**
 * What Elysia's generator leaves out or gets wrong, added document-wide so every route,
 * present and future, gets it: the API-key security schemes and the errors any protected
 * route can answer (401, 403, 429, 503; 422 for a path parameter), problems as
 * application/problem+json with an example each, the callbacks under `webhooks`, and
 * OpenAPI 3.1 schemas (no `nullable`, integers as integers).
 */

type Media = { schema?: Record<string, unknown> }
type Response = { description?: string; headers?: Record<string, unknown>; content?: Record<string, unknown> }
type Operation = {
  parameters?: { in?: string; schema?: Record<string, unknown> }[]
  requestBody?: unknown
  responses?: Record<string, Response>
  security?: Record<string, string[]>[]
}
type Document = {
  info?: Record<string, unknown>
  servers?: unknown[]
  paths?: Record<string, Record<string, Operation>>
  components?: Record<string, Record<string, unknown> | undefined>
  webhooks?: Record<string, unknown>
}

// Outside the request rate limit (app.ts skips them), though not outside the failed-key lockout.
const NOT_RATE_LIMITED = new Set(['/metrics'])

const SECURITY_SCHEMES = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key from `API_KEYS` as `Authorization: Bearer <key>`. Without `API_KEYS` the API is open.',
  },
  apiKeyHeader: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'The same key as `X-API-Key: <key>`.',
  },
}
const KEY_REQUIRED: Record<string, string[]>[] = [{ bearerAuth: [] }, { apiKeyHeader: [] }]

// Headers a route sets itself (the rest come with the status, from openapi-problems.ts).
const ROUTE_HEADERS: Record<string, Record<string, string[]>> = {
  'post /webhook': { 200: ['Location'], 202: ['Location'] },
}

const headerRefs = (names: string[]) =>
  Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]))

const isProblem = (response: Response): boolean => {
  const json = response.content?.['application/json'] as { schema?: { required?: string[] } } | undefined
  const required = json?.schema?.required ?? []
  return ['type', 'title', 'status'].every((field) => required.includes(field))
}

/** Every schema an operation holds, in OpenAPI 3.1's terms. */
function normalizeSchemas(operation: Operation): void {
  const media = [
    ...Object.values(
      (operation.requestBody as { content?: Record<string, Media> } | undefined)?.content ?? {},
    ),
    ...Object.values(operation.responses ?? {}).flatMap((r) => Object.values(r.content ?? {}) as Media[]),
  ]
  for (const holder of [...(operation.parameters ?? []), ...media])
    if (holder.schema) normalizeSchema(holder.schema)
}

function correctOperation(method: string, path: string, operation: Operation): void {
  operation.responses ??= {}
  const responses = operation.responses
  const open = isOpenPath(path)
  const context: ProblemContext = {
    path,
    hasBody: operation.requestBody !== undefined,
    rateLimited: !open && !NOT_RATE_LIMITED.has(path),
  }
  const statuses = new Set(Object.keys(responses).map(Number))
  // 403: a disabled client's key, or (on /clients) a key that is not an admin's.
  if (!open) for (const status of [401, 403, 429, 503]) statuses.add(status)
  if (operation.parameters?.some((p) => p.in === 'path')) statuses.add(422)
  for (const status of statuses) {
    const given = responses[status]
    if (status === 204 && given) delete given.content
    if (status < 400 || (given && !isProblem(given))) continue
    const problem = documentedProblem(status, context)
    if (problem) responses[status] = problem
    // A status openapi-problems.ts does not know yet: still a problem (the test asks for its example).
    else if (given) given.content = { 'application/problem+json': { schema: PROBLEM_SCHEMA_REF } }
  }
  // Every 503 says when to come back, /ready's (which is not a problem) too.
  const unavailable = responses[503]
  if (unavailable) unavailable.headers = { ...unavailable.headers, ...headerRefs(['Retry-After']) }
  for (const [status, names] of Object.entries(ROUTE_HEADERS[`${method} ${path}`] ?? {})) {
    const response = responses[status]
    if (response) response.headers = { ...response.headers, ...headerRefs(names) }
  }
  // Bun's own answer, before any route runs; true of every route, and for the probes their only 4xx.
  responses[431] = {
    description: 'The request headers are larger than the HTTP server reads (16 KB). No body.',
  }
  operation.security = open ? [] : KEY_REQUIRED
  normalizeSchemas(operation)
}

function correct(document: Document): Document {
  document.info = { ...document.info, license: { name: 'MIT', identifier: 'MIT' } }
  if (!document.servers?.length)
    document.servers = [{ url: '/', description: 'The relay serving this document.' }]
  for (const [path, operations] of Object.entries(document.paths ?? {}))
    for (const [method, operation] of Object.entries(operations)) correctOperation(method, path, operation)
  document.components ??= {}
  const components = document.components
  components.schemas = {
    ...components.schemas,
    Problem: jsonSchemaOf(ProblemSchema),
    ...callbackSchemas(),
  }
  components.headers = { ...components.headers, ...HEADERS }
  components.securitySchemes = { ...components.securitySchemes, ...SECURITY_SCHEMES }
  document.webhooks = { ...document.webhooks, ...callbackWebhooks() }
  return document
}

// The generator hands the same cached document to every request: correct a copy of it, once.
const corrected = new WeakMap<object, unknown>()

export function correctOpenApiDocument(document: unknown): unknown {
  if (typeof document !== 'object' || document === null) return document
  let done = corrected.get(document)
  if (done === undefined) {
    done = correct(JSON.parse(JSON.stringify(document)) as Document)
    corrected.set(document, done)
  }
  return done
}

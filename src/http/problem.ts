import { t } from 'elysia'

/** RFC 9457 problem details: every error the API answers is one of these, made here. */
export const ProblemSchema = t.Object(
  {
    type: t.String({ description: 'A URI naming the kind of problem.', examples: ['about:blank'] }),
    title: t.String({
      description: 'A short summary of the kind of problem.',
      examples: ['Unprocessable Content'],
    }),
    status: t.Integer({ description: 'The HTTP status code.', examples: [422] }),
    detail: t.Optional(t.String({ description: 'What went wrong with this request.' })),
    instance: t.Optional(t.String({ description: 'The path of the request.' })),
    errors: t.Optional(
      t.Array(
        t.Object({
          field: t.String({
            description: 'The failing field, as a JSON pointer.',
            examples: ['/callback_url'],
          }),
          message: t.String(),
        }),
        { description: 'Each failing field (422 only).' },
      ),
    ),
  },
  { description: 'RFC 9457 problem details (`application/problem+json`).', additionalProperties: true },
)

export interface FieldError {
  field: string
  message: string
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  431: 'Request Header Fields Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly errors?: FieldError[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail)
    this.name = 'Problem'
  }
}

export function problemResponse(problem: Problem, instance: string): Response {
  const body: Record<string, unknown> = {
    type: 'about:blank',
    title: TITLES[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.detail,
  }
  if (instance !== '') body.instance = instance
  if (problem.errors) body.errors = problem.errors
  return new Response(JSON.stringify(body), {
    status: problem.status,
    headers: {
      'content-type': 'application/problem+json',
      'x-content-type-options': 'nosniff',
      ...problem.headers,
    },
  })
}

/** The problem responses a route can answer, for its OpenAPI entry. */
export function problems(...statuses: number[]): Record<number, typeof ProblemSchema> {
  return Object.fromEntries(statuses.map((s) => [s, ProblemSchema]))
}

// The problems the relay answers, made here so that each reads the same wherever it is raised.

/** Where a validation failure was found, as the client would name it. */
export type InputPart = 'body' | 'params' | 'query' | 'headers' | 'cookie'

const PART_NAMES: Record<InputPart, string> = {
  body: 'request body',
  params: 'path parameters',
  query: 'query parameters',
  headers: 'request headers',
  cookie: 'cookies',
}

export const invalidInput = (part: InputPart, errors: FieldError[]): Problem =>
  new Problem(422, `The ${PART_NAMES[part]} failed validation.`, errors)

export const idempotencyKeyReused = (jobId: string): Problem =>
  new Problem(422, 'This Idempotency-Key was already used with a different body.', [
    { field: 'Idempotency-Key', message: `already names job ${jobId}` },
  ])

export const unreadableBody = (reason: string): Problem =>
  new Problem(400, `The body is not valid JSON: ${reason}`)

export const bodyTooDeep = (maxDepth: number): Problem =>
  new Problem(400, `The body nests arrays and objects deeper than ${maxDepth} levels.`)

export const bodyTooLarge = (maxBytes: number): Problem =>
  new Problem(413, `The body is larger than ${maxBytes} bytes.`)

export const unsupportedBodyType = (type: string): Problem =>
  new Problem(
    415,
    `Send the body as application/json (got ${type === '' ? 'no content type' : `"${type.slice(0, 100)}"`}).`,
  )

export const headersTooLarge = (maxBytes: number, maxFields: number): Problem =>
  new Problem(
    431,
    `The request line and headers are over ${maxBytes} bytes or ${maxFields} fields; send less.`,
  )

export const unauthorized = (detail: string): Problem =>
  new Problem(401, detail, undefined, { 'www-authenticate': 'Bearer realm="llm-relay"' })

export const tooManyFailedKeys = (retryAfterSeconds: number): Problem =>
  new Problem(429, 'Too many failed authentication attempts: wait for the time in Retry-After.', undefined, {
    'retry-after': String(retryAfterSeconds),
  })

export const tooManyRequests = (): Problem =>
  new Problem(429, 'Too many requests: wait for the time in Retry-After, then try again.')

export const notFound = (detail: string): Problem => new Problem(404, detail)

export const noSuchRoute = (): Problem => new Problem(404, 'No such route.')

export const methodNotAllowed = (allowed: readonly string[]): Problem =>
  new Problem(405, `This path answers ${allowed.join(', ')} only.`, undefined, { allow: allowed.join(', ') })

export const conflict = (detail: string): Problem => new Problem(409, detail)

export const shuttingDown = (): Problem =>
  new Problem(503, 'The relay is shutting down; try again in a moment.', undefined, { 'retry-after': '5' })

export const storeUnavailable = (): Problem =>
  new Problem(
    503,
    'The database is unavailable; nothing was accepted. Try again after the time in Retry-After.',
    undefined,
    { 'retry-after': '5' },
  )

export const unexpectedFailure = (): Problem =>
  new Problem(500, 'The relay failed to handle this request; nothing was accepted.')

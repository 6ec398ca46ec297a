/**
 * The error responses of the OpenAPI document: what each status means here, the headers that
 * come with it, and one example of each (Swagger UI would otherwise invent one from the schema).
 */

export const PROBLEM_SCHEMA_REF = { $ref: '#/components/schemas/Problem' }

export const EXAMPLE_JOB_ID = '01a213ab-1cdb-75ba-8eea-470df95e15a7'
const EXAMPLE_CONVERSATION_ID = 'customer-42'

const header = (name: string) => ({ $ref: `#/components/headers/${name}` })

/** Response headers the error responses (and the 202) refer to. */
export const HEADERS = {
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    required: true,
    schema: { type: 'integer', minimum: 0, examples: [5] },
  },
  'RateLimit-Limit': {
    description: 'Requests allowed per window for this client (`RATE_LIMIT_MAX`).',
    schema: { type: 'integer', minimum: 1, examples: [60] },
  },
  'RateLimit-Remaining': {
    description: 'Requests left in the current window.',
    schema: { type: 'integer', minimum: 0, examples: [0] },
  },
  'RateLimit-Reset': {
    description: 'Seconds until the window ends.',
    schema: { type: 'integer', minimum: 0, examples: [42] },
  },
  'WWW-Authenticate': {
    description: 'The scheme to authenticate with.',
    required: true,
    schema: { type: 'string', examples: ['Bearer realm="llm-relay"'] },
  },
  Location: {
    description: 'The job’s path: `GET` it to follow the job.',
    required: true,
    schema: { type: 'string', examples: [`/jobs/${EXAMPLE_JOB_ID}`] },
  },
} as const

/** Where an error can come from, for the example that fits it. */
export interface ProblemContext {
  path: string
  /** The operation reads a request body (its 422 is about a field, not a path parameter). */
  hasBody: boolean
  /** Counted by the request rate limit (not only by the failed-key lockout). */
  rateLimited: boolean
}

interface StatusText {
  title: string
  description: (c: ProblemContext) => string
  example: (c: ProblemContext) => { detail: string; errors?: { field: string; message: string }[] }
  headers?: (c: ProblemContext) => Record<string, unknown>
}

const isToolResults = (c: ProblemContext): boolean => c.path.endsWith('/tool_results')

const STATUSES: Record<number, StatusText> = {
  400: {
    title: 'Bad Request',
    description: () => 'The body is not valid JSON (or not valid UTF-8).',
    example: () => ({ detail: 'The body is not valid JSON: JSON Parse error: Unterminated string' }),
  },
  401: {
    title: 'Unauthorized',
    description: () =>
      'No API key, or not a valid one. Only when `API_KEYS` is set or clients are stored; send `Authorization: Bearer <key>` or `X-API-Key: <key>`.',
    example: () => ({ detail: 'Send an API key as `Authorization: Bearer <key>` or `X-API-Key`.' }),
    headers: () => ({ 'WWW-Authenticate': header('WWW-Authenticate') }),
  },
  403: {
    title: 'Forbidden',
    description: (c) =>
      c.path.startsWith('/clients') || c.path === '/callback-origins'
        ? 'The key is valid but not an `ADMIN_API_KEYS` one: only operators may.'
        : 'The key belongs to a client an operator disabled.',
    example: (c) => ({
      detail: c.path.startsWith('/clients')
        ? 'Managing clients needs an ADMIN_API_KEYS key.'
        : c.path === '/callback-origins'
          ? 'Reading the callback origins needs an ADMIN_API_KEYS key.'
          : 'This client is disabled.',
    }),
  },
  404: {
    title: 'Not Found',
    description: (c) =>
      c.path.startsWith('/conversations')
        ? 'No such conversation.'
        : c.path.startsWith('/clients')
          ? 'No such client (or it is deleted).'
          : 'No such job.',
    example: (c) => ({
      detail: c.path.startsWith('/conversations')
        ? `No conversation ${EXAMPLE_CONVERSATION_ID}.`
        : c.path.startsWith('/clients')
          ? `No client ${EXAMPLE_JOB_ID}.`
          : `No job ${EXAMPLE_JOB_ID}.`,
    }),
  },
  409: {
    title: 'Conflict',
    description: (c) =>
      c.path.startsWith('/clients')
        ? 'Another client has this name.'
        : c.path.endsWith('/cancel')
          ? 'The job is finished (`delivered` or `dead`): there is nothing left to cancel.'
          : isToolResults(c)
            ? 'The job waits for no tool results: these were submitted already, or it never called tools, or it is over.'
            : 'The job is still in progress, or was cancelled.',
    example: (c) => ({
      detail: c.path.startsWith('/clients')
        ? 'A client named acme exists already; pick another name.'
        : c.path.endsWith('/cancel')
          ? 'The job is delivered already; there is nothing left to cancel.'
          : isToolResults(c)
            ? `These tool results were submitted already; job ${EXAMPLE_JOB_ID} is processing now.`
            : 'Only a delivered or dead job can be redelivered; this one is still in progress or was cancelled.',
    }),
  },
  413: {
    title: 'Content Too Large',
    description: () => 'The body is larger than `MAX_BODY_BYTES`; it was not read.',
    example: () => ({ detail: 'The body is larger than 65536 bytes.' }),
  },
  415: {
    title: 'Unsupported Media Type',
    description: () => 'The body is not sent as `application/json`.',
    example: () => ({ detail: 'Send the body as application/json (got "text/plain").' }),
  },
  422: {
    title: 'Unprocessable Content',
    description: (c) =>
      c.hasBody
        ? 'A field or header is not valid; `errors` names each. Nothing was accepted.'
        : 'A path parameter is not valid; `errors` names it.',
    example: (c) =>
      isToolResults(c)
        ? {
            detail: 'The request body failed validation.',
            errors: [{ field: '/results', message: 'must answer call_2 too' }],
          }
        : c.hasBody
          ? {
              detail: 'The request body failed validation.',
              errors: [
                {
                  field: '/callback_url',
                  message:
                    'must be an absolute http or https URL of at most 2048 characters, without user:password@',
                },
              ],
            }
          : {
              detail: 'The params failed validation.',
              errors: [{ field: '/id', message: 'must be at most 64 characters' }],
            },
  },
  429: {
    title: 'Too Many Requests',
    description: (c) =>
      c.rateLimited
        ? 'Too many requests from this client in the window (`RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW`; then the `RateLimit-*` headers come too), or too many failed API keys from this address. Wait for `Retry-After`.'
        : 'Too many failed API keys from this address. Wait for `Retry-After`.',
    example: () => ({ detail: 'Too many requests: wait for the time in Retry-After, then try again.' }),
    headers: (c) => ({
      'Retry-After': header('Retry-After'),
      ...(c.rateLimited
        ? {
            'RateLimit-Limit': header('RateLimit-Limit'),
            'RateLimit-Remaining': header('RateLimit-Remaining'),
            'RateLimit-Reset': header('RateLimit-Reset'),
          }
        : {}),
    }),
  },
  503: {
    title: 'Service Unavailable',
    description: () =>
      'The relay is shutting down, or its database does not answer; nothing was accepted. Try again after `Retry-After`.',
    example: () => ({ detail: 'The relay is shutting down; try again in a moment.' }),
    headers: () => ({ 'Retry-After': header('Retry-After') }),
  },
}

/** `/jobs/{id}` as a request would name it. */
function concretePath(path: string): string {
  const id = path.startsWith('/conversations') ? EXAMPLE_CONVERSATION_ID : EXAMPLE_JOB_ID
  return path.replace(/\{[^}]+\}/g, id)
}

/** The response object of an error status, or undefined for a status this file does not know. */
export function documentedProblem(
  status: number,
  context: ProblemContext,
): Record<string, unknown> | undefined {
  const text = STATUSES[status]
  if (!text) return undefined
  const { detail, errors } = text.example(context)
  const example = {
    type: 'about:blank',
    title: text.title,
    status,
    detail,
    instance: concretePath(context.path),
  }
  const headers = text.headers?.(context)
  return {
    description: text.description(context),
    ...(headers ? { headers } : {}),
    content: {
      'application/problem+json': {
        schema: PROBLEM_SCHEMA_REF,
        example: errors ? { ...example, errors } : example,
      },
    },
  }
}

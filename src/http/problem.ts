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
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
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

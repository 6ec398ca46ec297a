import { Elysia, t } from 'elysia'
import { PREFER_WAIT_MAX_SECONDS, preferredWait } from '../../answer/prefer-wait.ts'
import type { Intake, Refusal, Submission } from '../../intake/intake.ts'
import type { Job } from '../../store/store.ts'
import type { Tracer } from '../../telemetry/tracer.ts'
import { type FieldError, idempotencyKeyReused, invalidInput, Problem, problems } from '../problem.ts'
import { readJsonBody } from '../request-body.ts'
import { JobView, WebhookAccepted, type WebhookBody, webhookBodySchema } from '../schemas.ts'
import { isStoreFault } from '../store-fault.ts'

export interface WebhookDeps {
  intake: Intake
  /** Whose job a request makes, and that client's defaults. */
  client: (request: Request) => Pick<Submission, 'owner' | 'settings'>
  maxMessageChars: number
  maxBodyBytes: number
  /** The origin `status_url` starts with ('' for a relative one); never throws. */
  statusUrlOrigin: (request: Request) => string
  /** This request committed `job`: its access line becomes the job's acceptance line. */
  markAccepted: (request: Request, job: Job) => void
  /** The job as answered (or failed) within `ms`, or undefined when it was not or `signal` aborted. */
  waitForAnswer: (job: Job, ms: number, signal: AbortSignal) => Promise<JobView | undefined>
  /** Where each job's trace starts (the no-op tracer while tracing is off). */
  tracer: Tracer
}

const STRING_FIELDS = ['message', 'callback_url', 'conversation_id', 'model', 'system_prompt'] as const

/**
 * Fields that must be strings but are not, named before the schema sees them: Elysia's
 * validation message interpolates the value, which throws for an object whose `toString`
 * is not a function (found by the fuzz test).
 */
function checkFieldTypes(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body
  const fields = body as Record<string, unknown>
  const errors: FieldError[] = []
  for (const name of STRING_FIELDS) {
    const value = fields[name]
    if (value !== undefined && typeof value !== 'string')
      errors.push({ field: `/${name}`, message: 'must be a string' })
  }
  for (const name of ['metadata', 'llm']) {
    const m = fields[name]
    if (m !== undefined && (typeof m !== 'object' || m === null || Array.isArray(m)))
      errors.push({ field: `/${name}`, message: 'must be a JSON object' })
  }
  const h = fields.callback_headers
  if (h !== undefined && (typeof h !== 'object' || h === null || Array.isArray(h)))
    errors.push({ field: '/callback_headers', message: 'must be a JSON object of header names and values' })
  else if (h !== undefined)
    for (const [name, value] of Object.entries(h as Record<string, unknown>))
      if (typeof value !== 'string')
        errors.push({ field: `/callback_headers/${pointerToken(name)}`, message: 'must be a string' })
  if (errors.length > 0) throw invalidInput('body', errors)
  return body
}

/** A key as a JSON pointer segment (RFC 6901). */
const pointerToken = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1')

const IDEMPOTENCY_KEY_MAX = 255

/**
 * The Idempotency-Key header, checked here rather than by a header schema (which has Elysia
 * copy every header of every request into an object, a few percent of the intake).
 */
function idempotencyKeyOf(request: Request): string | null {
  const key = request.headers.get('idempotency-key')
  if (key !== null && (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX))
    throw invalidInput('headers', [
      { field: 'Idempotency-Key', message: `must be 1 to ${IDEMPOTENCY_KEY_MAX} characters` },
    ])
  return key
}

const asFieldErrors = (refusals: Refusal[]): FieldError[] =>
  refusals.map((r) => ({
    field: r.header === undefined ? `/${r.field}` : `/${r.field}/${pointerToken(r.header)}`,
    message: r.message,
  }))

/** The status a failure of the handler answers with, as problem-mapping.ts maps it. */
const failureStatus = (error: unknown): number =>
  error instanceof Problem ? error.status : isStoreFault(error) ? 503 : 500

export function webhookRoutes(deps: WebhookDeps) {
  const Body = webhookBodySchema(deps.maxMessageChars)
  return new Elysia({ name: 'webhook' }).post(
    '/webhook',
    async ({ body, request, set, status }) => {
      // The job's trace: its root span, the client's traceparent continued (undefined: tracing off).
      const span = deps.tracer.startIntake(request)
      try {
        const idempotencyKey = idempotencyKeyOf(request)
        // Before the commit, like everything that could fail: after it, nothing may.
        const origin = deps.statusUrlOrigin(request)
        const outcome = await deps.intake.submit(
          submissionOf(body, deps.client(request), idempotencyKey, span?.context),
        )
        if (outcome.kind === 'refused') {
          span?.decided('refused')
          throw invalidInput('body', asFieldErrors(outcome.refusals))
        }
        if (outcome.kind === 'key_reused') {
          span?.decided('key_reused')
          throw idempotencyKeyReused(outcome.jobId)
        }
        const { job } = outcome
        if (outcome.kind === 'created') deps.markAccepted(request, job)
        span?.decided(outcome.kind === 'created' ? 'accepted' : 'replayed', job)
        // Job ids are UUIDs: nothing in them needs escaping.
        const location = `/jobs/${job.id}`
        set.headers.location = location
        const view = {
          id: job.id,
          conversation_id: job.conversationId,
          status: job.status,
          status_url: `${origin}${location}`,
        }
        const wait = preferredWait(request.headers.get('prefer'))
        if (wait !== undefined && outcome.kind === 'created') {
          // RFC 7240: the preference as honoured (capped at the relay's maximum).
          set.headers['preference-applied'] = `wait=${wait}`
          // The request's signal aborts when the client disconnects: its waiter goes at once.
          const answered = await deps.waitForAnswer(job, wait * 1000, request.signal).catch(() => undefined)
          if (answered) {
            span?.end(200)
            return status(200, { ...answered, status_url: view.status_url })
          }
        }
        span?.end(outcome.kind === 'created' ? 202 : 200)
        return outcome.kind === 'created' ? status(202, view) : status(200, view)
      } catch (error) {
        span?.end(failureStatus(error))
        throw error
      }
    },
    {
      // Our reader answers first (415/413/400); 'json' names the content type for OpenAPI.
      parse: [async ({ request }) => checkFieldTypes(await readJsonBody(request, deps.maxBodyBytes)), 'json'],
      body: Body,
      response: {
        202: WebhookAccepted,
        200: t.Union(
          [
            t.Composite([WebhookAccepted], {
              description:
                'Replay of an earlier request with the same Idempotency-Key: the same job, nothing enqueued.',
            }),
            t.Composite([JobView, t.Object({ status_url: t.String() })], {
              description:
                'With `Prefer: wait=N`: the job was answered (or failed) within N seconds, and here it is, as `GET /jobs/{id}` shows it. The callback is sent all the same.',
            }),
          ],
          {
            description:
              'A replay under the same Idempotency-Key (the job as accepted), or the answered job after `Prefer: wait`.',
          },
        ),
        ...problems(400, 413, 415, 422),
      },
      detail: {
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description: 'The same key again returns the same job (200) and enqueues nothing.',
            schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX },
          },
          {
            name: 'Prefer',
            in: 'header',
            required: false,
            description: `\`wait=N\` (RFC 7240, N up to ${PREFER_WAIT_MAX_SECONDS}): wait up to N seconds for the answer and answer 200 with the job when it comes in time; else 202 as usual. \`Preference-Applied\` says the wait honoured. The callback is sent either way.`,
            schema: { type: 'string', examples: ['wait=10'] },
          },
          {
            name: 'traceparent',
            in: 'header',
            required: false,
            description:
              'W3C Trace Context. With tracing on (`OTEL_EXPORTER_OTLP_ENDPOINT`), the job’s trace continues this one: its LLM calls and callbacks are spans of the same trace, and each carries a `traceparent` of it. `tracestate` is passed on with it. Ignored when malformed.',
            schema: { type: 'string', examples: ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'] },
          },
        ],
        tags: ['Messages'],
        summary: 'Send a message to answer',
        description:
          'Commits a job and answers 202 once it is durable. The answer is POSTed to `callback_url` as a Standard Webhooks envelope (`job.completed` or `job.failed`), signed when `CALLBACK_SECRET` is set, retried on `CALLBACK_RETRY_SCHEDULE`. Messages of one conversation are answered one at a time, in the order accepted, each seeing the history before it.',
      },
    },
  )
}

function submissionOf(
  body: WebhookBody,
  client: Pick<Submission, 'owner' | 'settings'>,
  idempotencyKey: string | null,
  traceContext: string | undefined,
): Submission {
  return {
    owner: client.owner,
    settings: client.settings,
    message: body.message,
    callbackUrl: body.callback_url,
    conversationId: body.conversation_id,
    model: body.model,
    systemPrompt: body.system_prompt,
    metadata: body.metadata as Record<string, unknown> | undefined,
    llm: body.llm,
    callbackHeaders: body.callback_headers,
    idempotencyKey,
    traceContext,
  }
}

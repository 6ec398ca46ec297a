import { createHash } from 'node:crypto'
import { Elysia, t } from 'elysia'
import type { Store } from '../../store/store.ts'
import { type FieldError, Problem, problems } from '../problem.ts'
import { readJsonBody } from '../request-body.ts'
import { METADATA_MAX_BYTES, WebhookAccepted, type WebhookBody, webhookBodySchema } from '../schemas.ts'

export interface WebhookDeps {
  store: Store
  /** A new job is committed (by this request): log and count it, and wake the worker. */
  onAccepted: (job: { id: string; conversationId: string }, request: Request) => void
  now: () => number
  newId: () => string
  owner: (request: Request) => string
  maxMessageChars: number
  maxBodyBytes: number
  defaultModel: string
  defaultSystemPrompt: string
  checkCallbackUrl: (url: string) => Promise<{ ok: true } | { ok: false; reason: string }>
  /** The origin clients reach us at, for `status_url`. */
  publicOrigin: (request: Request) => string
}

/**
 * The first of the guard's two checks: a literal or a name whose addresses are refused gets a
 * 422 now. A lookup that fails outright is not a verdict; delivery checks again anyway.
 */
async function refusedCallback(deps: WebhookDeps, url: string): Promise<FieldError | undefined> {
  const check = await deps.checkCallbackUrl(url).catch(() => ({ ok: true }) as const)
  return check.ok ? undefined : { field: '/callback_url', message: `is refused: ${check.reason}` }
}

/** What the schema leaves to the route: the metadata's size. */
function checkBody(body: WebhookBody): FieldError[] {
  if (body.metadata !== undefined && Buffer.byteLength(JSON.stringify(body.metadata)) > METADATA_MAX_BYTES)
    return [{ field: '/metadata', message: `must be at most ${METADATA_MAX_BYTES} bytes as JSON` }]
  return []
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
  const m = fields.metadata
  if (m !== undefined && (typeof m !== 'object' || m === null || Array.isArray(m)))
    errors.push({ field: '/metadata', message: 'must be a JSON object' })
  if (errors.length > 0) throw new Problem(422, 'The request body failed validation.', errors)
  return body
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

const IDEMPOTENCY_KEY_MAX = 255

/**
 * The Idempotency-Key header, checked here rather than by a header schema (which has Elysia
 * copy every header of every request into an object, a few percent of the intake).
 */
function idempotencyKeyOf(request: Request): string | null {
  const key = request.headers.get('idempotency-key')
  if (key !== null && (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX))
    throw new Problem(422, 'The request headers failed validation.', [
      { field: 'Idempotency-Key', message: `must be 1 to ${IDEMPOTENCY_KEY_MAX} characters` },
    ])
  return key
}

/** What an Idempotency-Key replay must match: every field that shapes the job. */
function requestHash(body: WebhookBody): string {
  return sha256(
    JSON.stringify([
      body.message,
      body.callback_url,
      body.conversation_id ?? null,
      body.model ?? null,
      body.system_prompt ?? null,
      body.metadata ?? null,
    ]),
  )
}

/** Without a conversation_id the conversation is the callback endpoint's own. */
export function conversationIdFor(body: WebhookBody): string {
  return body.conversation_id ?? `cb:${sha256(body.callback_url).slice(0, 40)}`
}

export function webhookRoutes(deps: WebhookDeps) {
  const Body = webhookBodySchema(deps.maxMessageChars)
  return new Elysia({ name: 'webhook' }).post(
    '/webhook',
    async ({ body, request, set, status }) => {
      const idempotencyKey = idempotencyKeyOf(request)
      const errors = checkBody(body)
      const refused = await refusedCallback(deps, body.callback_url)
      if (refused) errors.push(refused)
      if (errors.length > 0) throw new Problem(422, 'The request body failed validation.', errors)
      const conversationId = conversationIdFor(body)
      const now = deps.now()
      const result = await deps.store.acceptJob({
        id: deps.newId(),
        owner: deps.owner(request),
        conversationId,
        message: body.message,
        callbackUrl: body.callback_url,
        model: body.model ?? deps.defaultModel,
        systemPrompt: body.system_prompt ?? deps.defaultSystemPrompt,
        metadata: (body.metadata as Record<string, unknown> | undefined) ?? null,
        idempotencyKey,
        // Only a replay under the same key is compared with it.
        requestHash: idempotencyKey === null ? '' : requestHash(body),
        now,
      })
      if (result.kind === 'idempotency_conflict')
        throw new Problem(422, 'This Idempotency-Key was already used with a different body.', [
          { field: 'Idempotency-Key', message: `already names job ${result.job.id}` },
        ])
      if (result.kind === 'created') deps.onAccepted(result.job, request)
      // Job ids are UUIDs: nothing in them needs escaping.
      const location = `/jobs/${result.job.id}`
      const statusUrl = `${deps.publicOrigin(request)}${location}`
      set.headers.location = location
      const view = {
        id: result.job.id,
        conversation_id: result.job.conversationId,
        status: result.job.status,
        status_url: statusUrl,
      }
      return result.kind === 'created' ? status(202, view) : status(200, view)
    },
    {
      // Our reader answers first (415/413/400); 'json' names the content type for OpenAPI.
      parse: [async ({ request }) => checkFieldTypes(await readJsonBody(request, deps.maxBodyBytes)), 'json'],
      body: Body,
      response: {
        202: WebhookAccepted,
        200: t.Composite([WebhookAccepted], {
          description:
            'Replay of an earlier request with the same Idempotency-Key: the same job, nothing enqueued.',
        }),
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
        ],
        tags: ['Messages'],
        summary: 'Send a message to answer',
        description:
          'Commits a job and answers 202 once it is durable. The answer is POSTed to `callback_url` as a Standard Webhooks envelope (`job.completed` or `job.failed`), signed when `CALLBACK_SECRET` is set, retried on `CALLBACK_RETRY_SCHEDULE`. Messages of one conversation are answered one at a time, in the order accepted, each seeing the history before it.',
      },
    },
  )
}

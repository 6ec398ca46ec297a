import { Elysia } from 'elysia'
import type { Clock } from '../../clock.ts'
import { JOB_STATUSES, type JobStatus } from '../../job.ts'
import type { JobSummary } from '../../store/listing.ts'
import type { Store } from '../../store/store.ts'
import { jobCursor, jobPositionOf } from '../cursor.ts'
import {
  JobList,
  JobListQuery,
  LIST_LIMIT_DEFAULT,
  REDELIVER_BATCH,
  RedeliverMatchingAccepted,
  RedeliverMatchingBody,
} from '../listing-schemas.ts'
import { type InputPart, invalidInput, problems } from '../problem.ts'
import { readJsonBody } from '../request-body.ts'

export interface JobListingDeps {
  store: Store
  wake: () => void
  clock: Clock
  /** Whose jobs the request may see; undefined for every owner's. */
  visibleOwner: (request: Request) => string | undefined
  maxBodyBytes: number
}

const iso = (ms: number): string => new Date(ms).toISOString()

/** An ISO 8601 time as epoch ms; the schema's format check lets a few shapes through that Date does not read. */
function timeOf(part: InputPart, field: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const ms = Date.parse(value)
  if (Number.isNaN(ms))
    throw invalidInput(part, [{ field, message: 'must be an ISO 8601 date-time, e.g. 2026-01-01T00:00:00Z' }])
  return ms
}

function statusesOf(values: string[] | undefined): JobStatus[] | undefined {
  if (values === undefined) return undefined
  const unknown = values.filter((v) => !(JOB_STATUSES as readonly string[]).includes(v))
  if (unknown.length > 0)
    throw invalidInput('query', [
      {
        field: 'status',
        message: `must be one of ${JOB_STATUSES.join(', ')}; got ${unknown.join(', ').slice(0, 200)}`,
      },
    ])
  return values as JobStatus[]
}

function summaryView(job: JobSummary) {
  return {
    id: job.id,
    owner: job.owner,
    conversation_id: job.conversationId,
    sequence: job.sequence,
    status: job.status,
    model: job.model,
    message_preview: job.messagePreview,
    error_code: job.errorCode,
    attempts: { llm: job.llmAttempts, delivery: job.deliveryAttempts },
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
  }
}

/**
 * GET /jobs and POST /jobs/redeliver. Both are static paths, so the router never reads
 * them as /jobs/{id}; a job id of "redeliver" cannot exist (ids are UUIDs).
 */
export function jobListingRoutes(deps: JobListingDeps) {
  return new Elysia({ name: 'job-listing' })
    .get(
      '/jobs',
      async ({ query, request }) => {
        const statuses = statusesOf(query.status)
        const createdAfter = timeOf('query', 'created_after', query.created_after)
        const createdBefore = timeOf('query', 'created_before', query.created_before)
        const page = await deps.store.listJobs({
          owner: deps.visibleOwner(request),
          ...(statuses ? { statuses } : {}),
          ...(query.conversation_id === undefined ? {} : { conversationId: query.conversation_id }),
          ...(createdAfter === undefined ? {} : { createdAfter }),
          ...(createdBefore === undefined ? {} : { createdBefore }),
          ...(query.q === undefined ? {} : { text: query.q }),
          limit: query.limit ?? LIST_LIMIT_DEFAULT,
          ...(query.cursor === undefined ? {} : { after: jobPositionOf(query.cursor) }),
        })
        return { data: page.jobs.map(summaryView), next_cursor: page.next ? jobCursor(page.next) : null }
      },
      {
        query: JobListQuery,
        response: { 200: JobList, ...problems(422) },
        detail: {
          tags: ['Jobs'],
          summary: 'List jobs',
          description:
            'Newest first, filtered, one page at a time: follow `next_cursor`. Pages stay stable while jobs are accepted: none repeats or skips a job. A client key sees its own jobs; an admin key, or a relay without API keys, every client’s.',
        },
      },
    )
    .post(
      '/jobs/redeliver',
      async ({ body, request, status }) => {
        const createdAfter = timeOf('body', '/since', body.since)
        const createdBefore = timeOf('body', '/until', body.until)
        const result = await deps.store.redeliverMatching(
          {
            owner: deps.visibleOwner(request),
            status: body.status,
            ...(body.conversation_id === undefined ? {} : { conversationId: body.conversation_id }),
            ...(createdAfter === undefined ? {} : { createdAfter }),
            ...(createdBefore === undefined ? {} : { createdBefore }),
          },
          REDELIVER_BATCH,
          deps.clock.now(),
        )
        if (result.scheduled > 0) deps.wake()
        return status(202, result)
      },
      {
        parse: [async ({ request }) => readJsonBody(request, deps.maxBodyBytes), 'json'],
        body: RedeliverMatchingBody,
        response: { 202: RedeliverMatchingAccepted, ...problems(400, 413, 415, 422) },
        detail: {
          tags: ['Jobs'],
          summary: 'Send many finished jobs again',
          description: `Bulk recovery, e.g. after a receiver was down: every matching \`dead\` (or \`delivered\`) job is sent again as POST /jobs/{id}/redeliver does, with the same \`webhook-id\` and a fresh retry schedule; the LLM is not called again. At most ${REDELIVER_BATCH} jobs a call; while \`more\` is true, call again. Safe to repeat: a job once scheduled no longer matches.`,
        },
      },
    )
}

import type { CallbackPayload } from '../contract/callback-payload.ts'
import type { JobError } from '../job.ts'
import type { Job } from '../store/store.ts'

export type { CallbackPayload } from '../contract/callback-payload.ts'

const iso = (ms: number): string => new Date(ms).toISOString()

// Every failure is stored with its error; were one not, the receiver would still get the promised shape.
const UNRECORDED: JobError = { code: 'llm_error', message: 'The job failed without a recorded reason.' }

function data<R extends string | null, E extends JobError | null>(job: Job, response: R, error: E) {
  return {
    id: job.id,
    conversation_id: job.conversationId,
    sequence: job.sequence,
    message: job.message,
    response,
    error,
    model: job.model,
    usage: job.usage,
    output: job.output ?? null,
    metadata: job.metadata,
    created_at: iso(job.createdAt),
    completed_at: job.completedAt === null ? null : iso(job.completedAt),
  }
}

/** The Standard Webhooks envelope; the same bytes on every attempt but for the header timestamp. */
export function callbackPayload(job: Job): CallbackPayload {
  const timestamp = iso(job.completedAt ?? job.updatedAt)
  return job.response === null
    ? { type: 'job.failed', timestamp, data: data(job, null, job.error ?? UNRECORDED) }
    : { type: 'job.completed', timestamp, data: data(job, job.response, null) }
}

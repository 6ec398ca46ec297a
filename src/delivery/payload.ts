import { parsedCall, toolCallsWebhookId } from '../answer/tool-rounds.ts'
import type { CallbackPayload, JobToolCalls } from '../contract/callback-payload.ts'
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

/** The event of the round a job awaits the results of. */
function toolCallsPayload(job: Job): JobToolCalls {
  const round = job.toolRounds.at(-1)
  if (round === undefined) throw new Error(`job ${job.id} awaits tool results without a round`)
  return {
    type: 'job.tool_calls',
    timestamp: iso(round.calledAt),
    data: {
      id: job.id,
      conversation_id: job.conversationId,
      sequence: job.sequence,
      message: job.message,
      model: job.model,
      round: job.toolRounds.length,
      tool_calls: round.calls.map(parsedCall),
      content: round.content === '' ? null : round.content,
      usage: job.usage,
      metadata: job.metadata,
      created_at: iso(job.createdAt),
      results_due_at: iso(job.toolResultsDueAt ?? round.calledAt),
    },
  }
}

/** The callback's `webhook-id`: the job id, or for a round's tool calls one of that round's own. */
export function webhookIdOf(job: Job): string {
  return job.status === 'awaiting_tool_results' ? toolCallsWebhookId(job.id, job.toolRounds.length) : job.id
}

/** The Standard Webhooks envelope; the same bytes on every attempt but for the header timestamp. */
export function callbackPayload(job: Job): CallbackPayload {
  if (job.status === 'awaiting_tool_results') return toolCallsPayload(job)
  const timestamp = iso(job.completedAt ?? job.updatedAt)
  return job.response === null
    ? { type: 'job.failed', timestamp, data: data(job, null, job.error ?? UNRECORDED) }
    : { type: 'job.completed', timestamp, data: data(job, job.response, null) }
}

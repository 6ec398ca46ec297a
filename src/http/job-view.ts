import { parsedCall, pendingCalls } from '../answer/tool-rounds.ts'
import type { DeliveryAttempt, Job } from '../store/store.ts'
import type { JobView } from './schemas.ts'

const iso = (ms: number): string => new Date(ms).toISOString()

/** A job as `GET /jobs/{id}` (and a `POST /webhook` that waited for it) shows it. */
export function jobView(job: Job, deliveries: readonly DeliveryAttempt[]): JobView {
  return {
    id: job.id,
    conversation_id: job.conversationId,
    status: job.status,
    message: job.message,
    response: job.response,
    output: job.output ?? null,
    error: job.error,
    model: job.model,
    llm: job.llm,
    usage: job.usage,
    prompt_tokens_counted: job.promptTokens,
    metadata: job.metadata,
    callback_headers: job.callbackHeaderNames,
    tool_calls: job.status === 'awaiting_tool_results' ? pendingCalls(job.toolRounds).map(parsedCall) : null,
    tool_rounds: job.toolRounds.length,
    tool_results_due_at:
      job.status === 'awaiting_tool_results' && job.toolResultsDueAt !== null
        ? iso(job.toolResultsDueAt)
        : null,
    attempts: { llm: job.llmAttempts, delivery: job.deliveryAttempts },
    deliveries: deliveries.map((d) => ({
      attempt: d.attempt,
      at: iso(d.at),
      status_code: d.statusCode,
      error: d.error,
      duration_ms: d.durationMs,
    })),
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
    completed_at: job.completedAt === null ? null : iso(job.completedAt),
  }
}

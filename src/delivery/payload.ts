import type { Job } from '../store/store.ts'

export interface CallbackPayload {
  type: 'job.completed' | 'job.failed'
  timestamp: string
  data: {
    id: string
    conversation_id: string
    sequence: number
    message: string
    response: string | null
    error: Job['error']
    model: string
    usage: Job['usage']
    metadata: Job['metadata']
    created_at: string
    completed_at: string | null
  }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

/** The Standard Webhooks envelope; the same bytes on every attempt but for the header timestamp. */
export function callbackPayload(job: Job): CallbackPayload {
  const failed = job.response === null
  return {
    type: failed ? 'job.failed' : 'job.completed',
    timestamp: iso(job.completedAt ?? job.updatedAt) as string,
    data: {
      id: job.id,
      conversation_id: job.conversationId,
      sequence: job.sequence,
      message: job.message,
      response: job.response,
      error: failed ? job.error : null,
      model: job.model,
      usage: job.usage,
      metadata: job.metadata,
      created_at: iso(job.createdAt) as string,
      completed_at: iso(job.completedAt),
    },
  }
}

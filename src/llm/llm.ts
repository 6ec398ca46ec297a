import type { ErrorCode, Usage } from '../job.ts'

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

export interface LlmRequest {
  model: string
  messages: ChatMessage[]
}

export interface LlmAnswer {
  content: string
  /** The model that answered (a router or fallback may pick another than asked). */
  model: string
  usage: Usage | null
}

export interface LlmFailure {
  code: ErrorCode
  message: string
  retryable: boolean
  /** From `Retry-After`: the server's own wait, which beats our schedule. */
  retryAfterMs?: number
  /** From `X-RateLimit-Reset` (epoch ms): when the quota refills. */
  rateLimitResetAt?: number
  /** A 429's reach: one model (an upstream provider's limit) or the whole account (OpenRouter's own). */
  rateLimitScope?: 'model' | 'account'
}

export type LlmResult = { ok: true; answer: LlmAnswer } | { ok: false; failure: LlmFailure }

/** The port the worker calls: one chat completion, errors returned as classified values. */
export interface LlmClient {
  complete(request: LlmRequest): Promise<LlmResult>
}

import type { LlmParameters } from '../answer/parameters.ts'
import type { RawToolCall } from '../answer/tool-calls.ts'
import type { ErrorCode, Usage } from '../job.ts'

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  /** `toolCalls`: the functions the model called in this turn (its content may then be ''). */
  | { role: 'assistant'; content: string; toolCalls?: RawToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string }

export interface LlmRequest {
  model: string
  messages: ChatMessage[]
  /** The job's `llm` object, with the configured defaults filled in at intake. */
  parameters?: LlmParameters
  /** Aborts the call: the job was cancelled, or is another worker's now. */
  signal?: AbortSignal
  /** Sent with the call as they are: the W3C trace context (`traceparent`) of the attempt's span. */
  headers?: Readonly<Record<string, string>>
}

export interface LlmAnswer {
  /** The answer's text; '' when the model only calls tools. */
  content: string
  /** The functions the model wants called; empty for a final answer. */
  toolCalls: RawToolCall[]
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

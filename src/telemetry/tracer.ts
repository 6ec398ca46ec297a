import type { ErrorCode, Usage } from '../job.ts'
import type { Job } from '../store/store.ts'

/**
 * The port the relay traces through: one trace per job, whose spans may come from different
 * instances and hours apart. So a job's spans are not nested in memory: the intake request's span
 * is the root, its context is stored with the job, and each LLM and callback attempt, wherever it
 * runs, is a span of its own parented by that stored context.
 *
 * Spans carry identifiers, counts, codes and outcomes: never a message, an answer or a secret.
 */
export interface Tracer {
  /** POST /webhook: a child of the client's `traceparent` when it sent a valid one, else a new trace. */
  startIntake(request: Request): IntakeSpan | undefined
  /** One LLM call of a job, a child of the job's stored trace context. */
  startLlmAttempt(job: Job): LlmAttemptSpan | undefined
  /** One callback attempt of a job, a child of the job's stored trace context. */
  startCallbackAttempt(job: Job): CallbackAttemptSpan | undefined
  /** Sends the spans still buffered; at shutdown. */
  shutdown(): Promise<void>
}

/** The W3C trace context headers that make the next hop (the LLM API, the callback receiver) a child of a span. */
export type TraceHeaders = Readonly<Record<string, string>>

export interface IntakeSpan {
  /** What the job keeps: the parent of its attempts' spans (`Job.traceContext`). */
  readonly context: string
  /** What the intake made of the request; a request that fails before has none. */
  decided(outcome: IntakeOutcomeName, job?: Pick<Job, 'id' | 'conversationId' | 'model'>): void
  /** Ends it with the HTTP status answered. */
  end(status: number): void
}

export type IntakeOutcomeName = 'accepted' | 'replayed' | 'refused' | 'key_reused'

export interface LlmAttemptSpan {
  readonly headers: TraceHeaders
  end(result: LlmAttemptResult): void
}

export interface LlmAttemptResult {
  /** The stage's verdict on this attempt. */
  outcome: 'answered' | 'tool_calls' | 'retry' | 'failed' | 'lease_lost' | 'cancelled'
  error?: ErrorCode | undefined
  /** The model that answered (a router may pick another than asked). */
  model?: string | undefined
  usage?: Usage | null | undefined
}

export interface CallbackAttemptSpan {
  readonly headers: TraceHeaders
  end(result: CallbackAttemptResult): void
}

export interface CallbackAttemptResult {
  outcome: 'delivered' | 'retry' | 'dead'
  statusCode: number | null
  error?: ErrorCode | undefined
}

/**
 * Tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT): no span, nothing loaded; a call site's whole cost
 * is the call and a check for undefined.
 */
export const noTracer: Tracer = {
  startIntake: () => undefined,
  startLlmAttempt: () => undefined,
  startCallbackAttempt: () => undefined,
  shutdown: async () => {},
}

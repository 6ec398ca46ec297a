import type { JobError } from '../job.ts'
import type { Job } from '../store/store.ts'

export interface DeliveryResult {
  ok: boolean
  statusCode: number | null
  error: JobError | null
  durationMs: number
  /** False for a refusal no retry can mend (a forbidden address). */
  retryable: boolean
}

/** The port the worker calls: one callback attempt for a job whose result is stored. */
export interface Deliverer {
  /** `headers` go with the POST as they are: the W3C trace context of the attempt's span. */
  deliver(job: Job, headers?: Readonly<Record<string, string>>): Promise<DeliveryResult>
  /** Closes kept-alive connections, at shutdown. */
  close?(): void
}

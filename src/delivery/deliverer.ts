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
  deliver(job: Job): Promise<DeliveryResult>
  /** Closes kept-alive connections, at shutdown. */
  close?(): void
}

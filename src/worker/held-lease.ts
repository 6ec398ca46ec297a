import type { Clock, Timer } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { Store } from '../store/store.ts'

export interface HeldLeaseOptions {
  store: Store
  clock: Clock
  logger: Logger
  jobId: string
  workerId: string
  leaseMs: number
  /** Once, when the store says the job is no longer this worker's (cancelled, or claimed by another). */
  onLost?: () => void
}

/**
 * While an LLM call runs, how often the store is asked whether the job is still ours: a cancel
 * made on another instance stops the call within about this long.
 */
export const WATCH_MS = 1000

/**
 * A claimed job's lease while this process works on it: renewed every third of JOB_LEASE,
 * also while the store is away (a renewal that fails is tried at the next turn). It is lost
 * only when the store says the job is no longer this worker's; while the store is away it may
 * run out, and another worker may take the job once the store is back.
 */
export class HeldLease {
  private lost = false
  /** Until when the store holds the lease for us, as far as we know (claimed just now). */
  private heldUntil: number
  private readonly timer: Timer

  constructor(private readonly o: HeldLeaseOptions) {
    this.heldUntil = o.clock.now() + o.leaseMs
    this.timer = o.clock.setInterval(() => {
      this.renew().catch((err) => o.logger.warn({ err, job_id: o.jobId }, 'lease renewal failed'))
    }, o.leaseMs / 3)
  }

  get isLost(): boolean {
    return this.lost
  }

  /** Whether the lease may have run out in the store, so that another worker could take the job. */
  get mayHaveRunOut(): boolean {
    return this.o.clock.now() >= this.heldUntil
  }

  /** Renews now: true while the job is ours, false once it is not; throws while the store is away. */
  async renew(): Promise<boolean> {
    const { store, clock, jobId, workerId, leaseMs } = this.o
    const until = clock.now() + leaseMs
    const held = await store.renewLease(jobId, workerId, until)
    if (held) this.heldUntil = until
    else this.markLost()
    return held
  }

  /**
   * Asks the store every WATCH_MS whether the job is still ours (a read, not a renewal), until
   * the function it returns is called. A store that is away is asked again at the next turn.
   */
  watch(): () => void {
    const { store, clock, logger, jobId, workerId } = this.o
    const timer = clock.setInterval(() => {
      store.leaseHeld(jobId, workerId).then(
        (held) => {
          if (!held) this.markLost()
        },
        (err) => logger.debug({ err, job_id: jobId }, 'lease check failed'),
      )
    }, WATCH_MS)
    return () => timer.cancel()
  }

  private markLost(): void {
    if (this.lost) return
    this.lost = true
    this.o.onLost?.()
  }

  /** Stops renewing; before the lease is given back, so no renewal lands after it. */
  end(): void {
    this.timer.cancel()
  }
}

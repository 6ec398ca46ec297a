import { type Clock, sleep, type Timer } from '../clock.ts'
import type { Logger } from '../log.ts'
import { type Store, StoreUnavailableError } from '../store/store.ts'

export interface HeldLeaseOptions {
  store: Store
  clock: Clock
  logger: Logger
  jobId: string
  workerId: string
  leaseMs: number
}

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
    else this.lost = true
    return held
  }

  /** Stops renewing; before the lease is given back, so no renewal lands after it. */
  end(): void {
    this.timer.cancel()
  }
}

/** The waits between tries of a stage's last write while the store fails: 100 ms, doubling to 5 s. */
const FIRST_WAIT_MS = 100
const LONGEST_WAIT_MS = 5000
/** A write the store keeps refusing while it answers renewals is no outage: given up after this many tries. */
const REFUSALS = 3

export type StageWrite<T> = { written: true; value: T } | { written: false }

/**
 * How long a stage's last write is tried. `lease lost`: until the store says the job is another's
 * (an answer or a failure, which keep the job leased). `lease runs out`: only while the lease
 * surely holds (a retry or a callback attempt, which give the job up: once the lease may have run
 * out, the job is claimed again and the stage done again, and a late write would spoil that).
 */
export type WriteUntil = 'lease lost' | 'lease runs out'

/**
 * Runs the write that ends a job's stage (its answer, retry, failure or callback attempt) until
 * it lands, with backoff on the clock: what the stage produced (an LLM answer above all) is kept
 * in memory through a database outage instead of being thrown away and asked for again.
 * `{ written: false }`: the job is no longer ours to write.
 */
export async function writeWhileLeased<T>(
  write: () => Promise<T>,
  lease: HeldLease,
  until: WriteUntil,
  clock: Clock,
  log: Logger,
  what: string,
): Promise<StageWrite<T>> {
  let wait = FIRST_WAIT_MS
  let refusals = 0
  for (let tries = 1; ; tries++) {
    try {
      const value = await write()
      if (tries > 1) log.info({ outcome: 'stored', tries }, `${what} stored after the store came back`)
      return { written: true, value }
    } catch (error) {
      if (tries === 1)
        log.warn(
          { err: error, outcome: 'store_unavailable' },
          `${what} could not be stored; kept, trying again`,
        )
      await sleep(clock, wait)
      wait = Math.min(wait * 2, LONGEST_WAIT_MS)
      const outage = error instanceof StoreUnavailableError
      // An error not known as an outage: a renewal tells a store that is away from one that
      // refuses this write (then it is given up after a few tries, as a fault of the write).
      const held = lease.isLost ? false : outage ? undefined : await lease.renew().catch(() => undefined)
      if (held === false) {
        log.warn({ outcome: 'lease_lost' }, `${what} was not stored: the job is another worker's now`)
        return { written: false }
      }
      if (until === 'lease runs out' && lease.mayHaveRunOut) {
        log.warn(
          { outcome: 'lease_lost' },
          `${what} was not stored before the lease ran out; the job will be done again`,
        )
        return { written: false }
      }
      if (held === true && ++refusals >= REFUSALS) throw error
    }
  }
}

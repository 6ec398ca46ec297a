import { type Clock, sleep } from '../clock.ts'
import type { Logger } from '../log.ts'
import { StoreUnavailableError } from '../store/store.ts'
import type { HeldLease } from './held-lease.ts'

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
 * The stage writes waiting for the store to come back. While there are any, the claim loop
 * claims nothing: the store is away for claims too, and once it is back these writes go first,
 * before a claim could take back a job whose lease ran out meanwhile.
 */
export class StoreWaits {
  private waiting = 0

  get any(): boolean {
    return this.waiting > 0
  }

  begin(): void {
    this.waiting++
  }

  end(): void {
    this.waiting--
  }
}

export interface StageWriteContext {
  lease: HeldLease
  until: WriteUntil
  clock: Clock
  log: Logger
  waits: StoreWaits
  /** What is written, for the log: "the answer". */
  what: string
}

/**
 * Runs the write that ends a job's stage (its answer, retry, failure or callback attempt) until
 * it lands, with backoff on the clock: what the stage produced (an LLM answer above all) is kept
 * in memory through a database outage instead of being thrown away and asked for again.
 * `{ written: false }`: the job is no longer ours to write.
 */
export async function writeWhileLeased<T>(
  write: () => Promise<T>,
  c: StageWriteContext,
): Promise<StageWrite<T>> {
  try {
    return { written: true, value: await write() }
  } catch (error) {
    c.log.warn(
      { err: error, outcome: 'store_unavailable' },
      `${c.what} could not be stored; kept, trying again`,
    )
    c.waits.begin()
    try {
      return await tryAgain(write, error, c)
    } finally {
      c.waits.end()
    }
  }
}

async function tryAgain<T>(
  write: () => Promise<T>,
  first: unknown,
  c: StageWriteContext,
): Promise<StageWrite<T>> {
  let error = first
  let wait = FIRST_WAIT_MS
  let refusals = 0
  for (let tries = 2; ; tries++) {
    await sleep(c.clock, wait)
    wait = Math.min(wait * 2, LONGEST_WAIT_MS)
    // An error not known as an outage: a renewal tells a store that is away from one that
    // refuses this write (then it is given up after a few tries, as a fault of the write).
    const outage = error instanceof StoreUnavailableError
    const held = c.lease.isLost ? false : outage ? undefined : await c.lease.renew().catch(() => undefined)
    if (held === false) {
      c.log.warn({ outcome: 'lease_lost' }, `${c.what} was not stored: the job is another worker's now`)
      return { written: false }
    }
    if (c.until === 'lease runs out' && c.lease.mayHaveRunOut) {
      c.log.warn(
        { outcome: 'lease_lost' },
        `${c.what} was not stored before the lease ran out; the job will be done again`,
      )
      return { written: false }
    }
    if (held === true && ++refusals >= REFUSALS) throw error
    try {
      const value = await write()
      c.log.info({ outcome: 'stored', tries }, `${c.what} stored after the store came back`)
      return { written: true, value }
    } catch (again) {
      error = again
    }
  }
}

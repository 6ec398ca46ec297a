import type { Clock } from '../clock.ts'
import type { JobError } from '../job.ts'
import { type BreakerPolicy, type OriginChange, type OriginStore, originOf } from '../store/origin-store.ts'

/**
 * Receivers that fail, per callback origin (scheme, host, port). Two guards in front of each
 * callback attempt:
 * - the breaker, fleet-wide (its state is in the store): after CALLBACK_BREAKER_FAILURES failed
 *   attempts in a row, across jobs, the origin is open; its deliveries wait without spending
 *   attempts, and one goes out as a probe every CALLBACK_BREAKER_PROBE; the first success
 *   closes it and releases the waiting deliveries in acceptance order;
 * - the in-flight cap, per instance: at most CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN callbacks to one
 *   origin at once, so one slow receiver never takes every delivery slot.
 */

export type Gate =
  | { go: true; probe: boolean; origin: string; done: () => void }
  | { go: false; origin: string; until: number; reason: 'open' | 'busy' }

/** How soon a delivery held back by the in-flight cap is tried again. */
export const BUSY_RETRY_MS = 1000

/**
 * How long a callback waits here for one of its origin's slots before it is held back. A fast
 * receiver frees a slot within milliseconds, so its callbacks queue briefly instead of each
 * waiting BUSY_RETRY_MS; a slow one holds them back after this, freeing the delivery slot.
 */
export const BUSY_WAIT_MS = 100

/** Codes that say nothing about the receiver's health: they neither open nor close its breaker. */
const NOT_THE_RECEIVERS: ReadonlySet<JobError['code']> = new Set([
  'callback_forbidden',
  'callback_secret_unavailable',
  'callback_gone',
])

export interface OriginBreakerOptions {
  origins: OriginStore
  clock: Clock
  /** threshold 0: the breaker is off (the in-flight cap still holds). */
  policy: BreakerPolicy
  maxInFlight: number
  /** An origin opened or closed (once in a fleet: the instance whose write changed it). */
  onChange?: (origin: string, change: Exclude<OriginChange, undefined>, error: JobError | null) => void
}

export class OriginBreaker {
  private readonly inFlight = new Map<string, number>()
  /** Callbacks waiting (at most BUSY_WAIT_MS) for a slot of their origin, first come first served. */
  private readonly waiting = new Map<string, (() => void)[]>()

  constructor(private readonly o: OriginBreakerOptions) {}

  /** Whether the job's callback may go now; a `go` must be followed by `done()` once it is over. */
  async admit(callbackUrl: string): Promise<Gate> {
    const origin = originOf(callbackUrl)
    if ((this.inFlight.get(origin) ?? 0) < this.o.maxInFlight)
      // Counted before the store answers: callbacks admitted at once cannot all pass the cap.
      this.inFlight.set(origin, (this.inFlight.get(origin) ?? 0) + 1)
    else if (!(await this.slotFreed(origin)))
      return { go: false, origin, until: this.o.clock.now() + BUSY_RETRY_MS, reason: 'busy' }
    const now = this.o.clock.now()
    const done = () => {
      // A freed slot passes straight to the callback that has waited longest, still counted.
      const queue = this.waiting.get(origin)
      const next = queue?.shift()
      if (queue?.length === 0) this.waiting.delete(origin)
      if (next) return next()
      const left = (this.inFlight.get(origin) ?? 1) - 1
      if (left <= 0) this.inFlight.delete(origin)
      else this.inFlight.set(origin, left)
    }
    if (this.o.policy.threshold <= 0) return { go: true, probe: false, origin, done }
    try {
      const admission = await this.o.origins.admitDelivery(origin, now, this.o.policy.probeMs)
      if (admission.go) return { go: true, probe: admission.probe, origin, done }
      done()
      return { go: false, origin, until: admission.until, reason: 'open' }
    } catch (error) {
      done()
      throw error
    }
  }

  /** Waits up to BUSY_WAIT_MS for a slot of `origin`; true when one was handed to this caller. */
  private slotFreed(origin: string): Promise<boolean> {
    return new Promise((resolve) => {
      const queue = this.waiting.get(origin) ?? []
      this.waiting.set(origin, queue)
      const take = () => {
        timer.cancel()
        resolve(true)
      }
      const timer = this.o.clock.setTimeout(() => {
        const at = queue.indexOf(take)
        if (at >= 0) queue.splice(at, 1)
        if (queue.length === 0 && this.waiting.get(origin) === queue) this.waiting.delete(origin)
        resolve(false)
      }, BUSY_WAIT_MS)
      queue.push(take)
    })
  }

  /** What an attempt tells of its origin's health. */
  async record(origin: string, error: JobError | null): Promise<OriginChange> {
    if (this.o.policy.threshold <= 0) return undefined
    if (error !== null && NOT_THE_RECEIVERS.has(error.code)) return undefined
    const now = this.o.clock.now()
    const change =
      error === null
        ? await this.o.origins.recordOriginSuccess(origin, now)
        : await this.o.origins.recordOriginFailure(origin, error, now, this.o.policy)
    if (change) this.o.onChange?.(origin, change, error)
    return change
  }
}

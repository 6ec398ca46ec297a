/** A pending timer of a Clock; `cancel()` is safe to call twice or after it fired. */
export interface Timer {
  cancel(): void
}

/**
 * Time is injected so leases, retries, backoff and drains can be driven by tests: every room
 * reads the time and sets its timers through this port, never `Date.now()` or `setTimeout`.
 */
export interface Clock {
  now(): number
  /** Runs `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): Timer
  /** Runs `fn` every `ms` until cancelled. */
  setInterval(fn: () => void, ms: number): Timer
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, Math.max(0, ms))
    return { cancel: () => clearTimeout(handle) }
  },
  setInterval(fn, ms) {
    const handle = setInterval(fn, Math.max(1, ms))
    return { cancel: () => clearInterval(handle) }
  },
}

/** Resolves after `ms` on `clock` (a manual clock resolves it when advanced past). */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, ms)
  })
}

/** What `within` rejects with when the time ran out first. */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`)
    this.name = 'TimeoutError'
  }
}

/**
 * `promise`'s outcome, or a TimeoutError once `ms` have passed on `clock`: a dependency that
 * stopped answering costs its caller at most `ms`. (The work itself is not cancelled.)
 */
export function within<T>(clock: Clock, ms: number, what: string, promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new TimeoutError(what, ms)), ms)
    promise.then(
      (value) => {
        timer.cancel()
        resolve(value)
      },
      (error: unknown) => {
        timer.cancel()
        reject(error)
      },
    )
  })
}

/** Job ids: UUIDv7, so they sort by creation time. */
export function newJobId(): string {
  return Bun.randomUUIDv7()
}

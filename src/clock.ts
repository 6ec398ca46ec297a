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

/** Job ids: UUIDv7, so they sort by creation time. */
export function newJobId(): string {
  return Bun.randomUUIDv7()
}

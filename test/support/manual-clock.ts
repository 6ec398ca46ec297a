import type { Clock, Timer } from '../../src/clock.ts'

interface Pending {
  at: number
  every: number | undefined
  fn: () => void
  cancelled: boolean
  order: number
}

/**
 * A clock that moves only when a test says so. Timers fire in time order as `advance`
 * passes them, each after the microtasks the previous one queued have run, so awaited
 * store writes land between timers as they would in real time.
 */
export class ManualClock implements Clock {
  private pending: Pending[] = []
  private order = 0

  constructor(private current = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.current
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.add(fn, Math.max(0, ms), undefined)
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.add(fn, Math.max(1, ms), Math.max(1, ms))
  }

  /** How many timers are waiting to fire. */
  get timers(): number {
    return this.pending.filter((p) => !p.cancelled).length
  }

  /** The time of the next timer, if any. */
  get nextAt(): number | undefined {
    let next: number | undefined
    for (const p of this.pending) if (!p.cancelled && (next === undefined || p.at < next)) next = p.at
    return next
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms
    for (;;) {
      await settle()
      const next = this.nextDue(target)
      if (!next) break
      this.current = Math.max(this.current, next.at)
      if (next.every === undefined) next.cancelled = true
      else next.at += next.every
      next.fn()
    }
    this.current = target
    this.pending = this.pending.filter((p) => !p.cancelled)
    await settle()
  }

  /** Jumps to the next timer and fires it (and any due at the same instant). */
  async runNext(): Promise<boolean> {
    const at = this.nextAt
    if (at === undefined) return false
    await this.advance(at - this.current)
    return true
  }

  /**
   * Moves time on in steps of `stepMs` until `check` holds, letting real I/O (HTTP, the
   * database) run between the steps: for timers that work still under way has yet to set.
   */
  async advanceUntil<T>(
    stepMs: number,
    check: () => T | undefined | false | Promise<T | undefined | false>,
    what: string,
    timeoutMs = 10_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = await check()
      if (value !== undefined && value !== false) return value
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${timeoutMs} ms (real) waiting for ${what}; the clock is at ${this.current}`,
        )
      await this.advance(stepMs)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  private nextDue(target: number): Pending | undefined {
    let best: Pending | undefined
    for (const p of this.pending) {
      if (p.cancelled || p.at > target) continue
      if (!best || p.at < best.at || (p.at === best.at && p.order < best.order)) best = p
    }
    return best
  }

  private add(fn: () => void, ms: number, every: number | undefined): Timer {
    const entry: Pending = { at: this.current + ms, every, fn, cancelled: false, order: this.order++ }
    this.pending.push(entry)
    return {
      cancel: () => {
        entry.cancelled = true
      },
    }
  }
}

/** Lets queued promise callbacks (and one macrotask turn) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
  await new Promise((resolve) => setImmediate(resolve))
}

import type { Context } from 'elysia-rate-limit'
import type { Clock } from '../clock.ts'

/** Where the API rate limit counts its windows: elysia-rate-limit's store port. */
export type RateLimitStore = Context

export interface RateLimitWindow {
  count: number
  nextReset: Date
  start: number
}

/** The window length elysia-rate-limit configures its store with (RATE_LIMIT_WINDOW). */
export function windowOf(options: { duration?: unknown }, fallback: number): number {
  return typeof options.duration === 'number' ? options.duration : fallback
}

/**
 * One process's fixed windows, on the injected clock: the store of a single instance, and of
 * every instance while the shared one is out of reach. At most `maxKeys` clients are kept; past
 * that the expired windows go, then the oldest.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly windows = new Map<string, { count: number; resetAt: number; reset: Date }>()
  private duration = 60_000

  constructor(
    private readonly clock: Clock,
    private readonly maxKeys = 10_000,
  ) {}

  init(options: { duration?: unknown }): void {
    this.duration = windowOf(options, this.duration)
  }

  /**
   * Answered on the spot, not as a promise: the API rate limit's hook then runs without an
   * await on every request of a single instance.
   */
  increment(key: string): RateLimitWindow {
    const now = this.clock.now()
    let window = this.windows.get(key)
    if (!window || window.resetAt <= now) {
      if (this.windows.size >= this.maxKeys) this.makeRoom(now)
      window = { count: 0, resetAt: now + this.duration, reset: new Date(now + this.duration) }
      this.windows.delete(key)
      this.windows.set(key, window)
    }
    window.count += 1
    return { count: window.count, nextReset: window.reset, start: window.resetAt - this.duration }
  }

  async decrement(key: string): Promise<void> {
    const window = this.windows.get(key)
    if (window && window.count > 0) window.count -= 1
  }

  async reset(key?: string): Promise<void> {
    if (key === undefined) this.windows.clear()
    else this.windows.delete(key)
  }

  kill(): void {
    this.windows.clear()
  }

  private makeRoom(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key)
    // Insertion order is window start order: the first keys are the oldest windows.
    for (const key of this.windows.keys()) {
      if (this.windows.size < this.maxKeys) break
      this.windows.delete(key)
    }
  }
}

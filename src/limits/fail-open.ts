import { type Clock, within } from '../clock.ts'
import type { CallBudget } from './call-budget.ts'
import type { OutageLog } from './outage.ts'
import type { RateLimitStore, RateLimitWindow } from './rate-limit-store.ts'

/** A shared call that has not answered in this time counts as failed: the local limits decide. */
export const SHARED_LIMITS_TIMEOUT_MS = 1500

/**
 * Fleet-wide limits that fail open: while their backing is out of reach (or slow), this
 * instance's own limits decide, so a Redis or database outage costs requests neither a hang nor
 * an error, only the fleet-wide count. `reachable` says when not to try at all.
 */
export class FailOpen {
  constructor(
    private readonly o: { clock: Clock; outage: OutageLog; reachable: () => boolean; timeoutMs?: number },
  ) {}

  async decide<T>(shared: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    return (await this.decideWhere(shared, local)).value
  }

  /** The decision, and which side made it. */
  async decideWhere<T>(
    shared: () => Promise<T>,
    local: () => Promise<T>,
  ): Promise<{ value: T; by: 'shared' | 'local' }> {
    if (this.o.reachable()) {
      try {
        const timeout = this.o.timeoutMs ?? SHARED_LIMITS_TIMEOUT_MS
        const value = await within(this.o.clock, timeout, `${this.o.outage.dependency} limits`, shared())
        this.o.outage.ended()
        return { value, by: 'shared' }
      } catch (error) {
        this.o.outage.began(error)
      }
    }
    return { value: await local(), by: 'local' }
  }
}

/** LLM_MAX_RPM counted fleet-wide, or by this instance while the fleet's count is out of reach. */
export class FailOpenCallBudget implements CallBudget {
  private takenFrom: 'shared' | 'local' = 'shared'

  constructor(
    private readonly shared: CallBudget,
    private readonly local: CallBudget,
    private readonly failOpen: FailOpen,
  ) {}

  async take(want: number, now: number): Promise<number> {
    const { value, by } = await this.failOpen.decideWhere(
      () => this.shared.take(want, now),
      () => this.local.take(want, now),
    )
    this.takenFrom = by
    return value
  }

  /** Slots go back where they were taken, or one side's count would drift. */
  async giveBack(count: number, now: number): Promise<void> {
    if (this.takenFrom === 'local') return this.local.giveBack(count, now)
    await this.failOpen.decide(
      () => this.shared.giveBack(count, now),
      async () => {},
    )
  }

  nextSlotAt(now: number): Promise<number | undefined> {
    return this.failOpen.decide(
      () => this.shared.nextSlotAt(now),
      () => this.local.nextSlotAt(now),
    )
  }

  /** Kept locally too: a quota pause holds this instance through an outage of the shared one. */
  async pauseUntil(at: number): Promise<void> {
    await this.local.pauseUntil(at)
    await this.failOpen.decide(
      () => this.shared.pauseUntil(at),
      async () => {},
    )
  }
}

/** The API rate limit counted fleet-wide, or by this instance while the fleet's count is out of reach. */
export class FailOpenRateLimitStore implements RateLimitStore {
  constructor(
    private readonly shared: RateLimitStore,
    private readonly local: RateLimitStore,
    private readonly failOpen: FailOpen,
  ) {}

  init(options: Parameters<RateLimitStore['init']>[0]): void {
    this.shared.init(options)
    this.local.init(options)
  }

  increment(key: string): Promise<RateLimitWindow> {
    return this.failOpen.decide(
      async () => this.shared.increment(key),
      async () => this.local.increment(key),
    )
  }

  async decrement(key: string): Promise<void> {
    await this.failOpen.decide(
      async () => this.shared.decrement(key),
      async () => this.local.decrement(key),
    )
  }

  async reset(key?: string): Promise<void> {
    await this.local.reset(key)
    await this.failOpen.decide(
      async () => this.shared.reset(key),
      async () => {},
    )
  }

  async kill(): Promise<void> {
    await this.local.kill()
    await this.shared.kill()
  }
}

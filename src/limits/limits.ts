import type { Clock } from '../clock.ts'
import { type CallBudget, LocalCallBudget } from './call-budget.ts'
import { MemoryRateLimitStore, type RateLimitStore } from './rate-limit-store.ts'

/** Something the limits need that /ready and `llm_relay_dependency_up` report on. */
export interface Dependency {
  name: string
  /** Resolves (never rejects) to whether it answers now. */
  isUp(): Promise<boolean>
}

/**
 * The port of this room: where LLM_MAX_RPM and the API rate limit are counted. One instance
 * counts in memory; a fleet counts in Redis (REDIS_URL) or else in its PostgreSQL database,
 * each failing open to this instance's own count while it is out of reach.
 */
export interface Limits {
  readonly budget: CallBudget
  readonly rateLimit: RateLimitStore
  /** What the limits depend on beside the store (Redis, when it keeps them). */
  readonly dependencies: readonly Dependency[]
  close(): Promise<void>
}

/** One process's limits, in its memory. */
export function localLimits(perMinute: number, clock: Clock): Limits {
  return {
    budget: new LocalCallBudget(perMinute),
    rateLimit: new MemoryRateLimitStore(clock),
    dependencies: [],
    close: async () => {},
  }
}

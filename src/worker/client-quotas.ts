import type { JobError } from '../job.ts'
import type { UsageStore } from '../store/usage-store.ts'
import { utcDay } from '../store/usage-store.ts'

/** A client's own LLM limits; null: none beyond the relay's. */
export interface ClientLimits {
  llmRpm: number | null
  dailyTokenBudget: number | null
}

/** Where the worker learns a job owner's limits (undefined: an owner without limits of its own). */
export type ClientLimitsOf = (owner: string) => Promise<ClientLimits | undefined>

export interface QuotaWait {
  until: number
  reason: 'llm_rpm' | 'daily_tokens'
  error: JobError
}

const MINUTE = 60_000
const DAY = 86_400_000
/** How long a day's token count is taken as read: the budget may be overshot by this much use. */
const TOKENS_SEEN_MS = 2000

/**
 * A client's `llm_rpm` and `daily_token_budget`, checked before each LLM call. Over either,
 * the job waits (a quota wait: back to the queue, the attempt given back) until a minute's
 * call frees or the next UTC day. `llm_rpm` is counted per instance (a fleet of N lets a
 * client up to N × llm_rpm); the day's tokens are read from the stored usage, shared by the
 * fleet, and count answers already stored (calls in flight come on top).
 */
export class ClientQuotas {
  private readonly starts = new Map<string, number[]>()
  private readonly tokens = new Map<string, { day: string; at: number; used: number }>()

  constructor(
    private readonly o: {
      limitsOf: ClientLimitsOf
      usage: UsageStore
    },
  ) {}

  /** Undefined when the owner may call now (the call is counted); else how long to wait, and why. */
  async holding(owner: string, now: number): Promise<QuotaWait | undefined> {
    const limits = await this.o.limitsOf(owner)
    if (!limits) return undefined
    const budget = limits.dailyTokenBudget
    if (budget !== null) {
      const used = await this.usedToday(owner, now)
      if (used >= budget) {
        const until = (Math.floor(now / DAY) + 1) * DAY
        return {
          until,
          reason: 'daily_tokens',
          error: {
            code: 'client_daily_tokens',
            message: `The client used ${used} of its daily_token_budget of ${budget} tokens today (UTC); the job waits until ${new Date(until).toISOString()}.`,
          },
        }
      }
    }
    if (limits.llmRpm !== null) {
      const recent = (this.starts.get(owner) ?? []).filter((at) => at > now - MINUTE)
      this.starts.set(owner, recent)
      if (recent.length >= limits.llmRpm) {
        const until = (recent[0] as number) + MINUTE
        return {
          until,
          reason: 'llm_rpm',
          error: {
            code: 'client_llm_rpm',
            message: `The client started its llm_rpm of ${limits.llmRpm} LLM calls in the last minute; the job waits until ${new Date(until).toISOString()}.`,
          },
        }
      }
      recent.push(now)
    }
    return undefined
  }

  private async usedToday(owner: string, now: number): Promise<number> {
    const day = utcDay(now)
    const seen = this.tokens.get(owner)
    if (seen && seen.day === day && now - seen.at < TOKENS_SEEN_MS) return seen.used
    const used = await this.o.usage.tokensOn(owner, day)
    this.tokens.set(owner, { day, at: now, used })
    return used
  }
}

import type { LlmFailure } from '../llm/llm.ts'
import type { DeliveryOutcome } from '../store/store.ts'

/** The wait before the next try after `failures` failed ones; undefined when the schedule is spent. */
export function retryDelayFor(schedule: readonly number[], failures: number): number | undefined {
  return failures >= 1 ? schedule[failures - 1] : 0
}

/** All the waiting a schedule still holds after `failures` failed tries. */
export function remainingWait(schedule: readonly number[], failures: number): number {
  return schedule.slice(Math.max(0, failures - 1)).reduce((sum, ms) => sum + ms, 0)
}

export interface LlmRetryPolicy {
  /** LLM_RETRY_SCHEDULE. */
  schedule: readonly number[]
  /** LLM_MAX_PAUSE: the longest wait an upstream may impose at once; then the call is tried again. */
  maxPauseMs: number
}

/** What a 429 holds back, and until when. */
export interface RateLimitPause {
  scope: 'model' | 'account'
  until: number
}

export interface LlmRetryPlan {
  /** When to call again; absent, the job fails now. `countAttempt: false` gives the attempt back. */
  retry?: { at: number; countAttempt: boolean }
  /** Set for a 429: the calls that must wait with this one. */
  pause?: RateLimitPause
}

/**
 * When to try the LLM again after `failure` on attempt `attempts`, and what else must wait.
 * The operator's schedule counts attempts; the upstream's own word (`Retry-After`, the quota's
 * reset) may lengthen a wait but never beyond LLM_MAX_PAUSE, after which the call is simply
 * tried again. A 429 pauses what it limits: the model, or the account when OpenRouter says so.
 */
export function planLlmRetry(
  failure: LlmFailure,
  attempts: number,
  now: number,
  policy: LlmRetryPolicy,
): LlmRetryPlan {
  if (!failure.retryable) return {}
  const capped = (at: number) => Math.min(at, now + policy.maxPauseMs)
  const scope = failure.code === 'llm_rate_limited' ? (failure.rateLimitScope ?? 'model') : undefined
  const refill = failure.rateLimitResetAt
  // A quota that refills only after our retries would all be spent (the free tier's daily
  // limit): wait for it without burning attempts, and hold every other call too.
  if (
    scope === 'account' &&
    refill !== undefined &&
    refill - now > remainingWait(policy.schedule, attempts)
  ) {
    const at = capped(refill)
    return { retry: { at, countAttempt: false }, pause: { scope, until: at } }
  }
  const serverWait = failure.retryAfterMs === undefined ? now : now + failure.retryAfterMs
  const upstreamAt = capped(Math.max(serverWait, refill ?? now))
  const delay = retryDelayFor(policy.schedule, attempts)
  const retry =
    delay === undefined ? undefined : { at: Math.max(now + delay, upstreamAt), countAttempt: true }
  if (scope === undefined) return retry ? { retry } : {}
  // The others wait as long as this job does, within the cap; a job out of retries still tells them.
  const until = capped(retry?.at ?? upstreamAt)
  const pause = until > now ? { scope, until } : undefined
  return { ...(retry && { retry }), ...(pause && { pause }) }
}

/** Where a callback attempt leaves the job: delivered, another try after the schedule's wait, or dead. */
export function planDelivery(
  result: { ok: boolean; retryable: boolean },
  failuresBefore: number,
  schedule: readonly number[],
  now: number,
): DeliveryOutcome {
  if (result.ok) return { status: 'delivered' }
  const delay = result.retryable ? retryDelayFor(schedule, failuresBefore + 1) : undefined
  return delay === undefined ? { status: 'dead' } : { status: 'delivering', retryAt: now + delay }
}

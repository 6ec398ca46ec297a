import { describe, expect, test } from 'bun:test'
import type { LlmFailure } from '../src/llm/llm.ts'
import { planDelivery, planLlmRetry } from '../src/worker/retry-policy.ts'

const NOW = Date.UTC(2026, 0, 1)
const SECOND = 1000
const MINUTE = 60 * SECOND
const policy = { schedule: [2 * SECOND, 10 * SECOND], maxPauseMs: 5 * MINUTE }
const failure = (f: Partial<LlmFailure>): LlmFailure => ({
  code: 'llm_unavailable',
  message: 'x',
  retryable: true,
  ...f,
})
const limited = (f: Partial<LlmFailure> = {}) => failure({ code: 'llm_rate_limited', ...f })

describe('when the LLM is tried again', () => {
  test('a permanent error: never', () => {
    expect(planLlmRetry(failure({ code: 'llm_auth', retryable: false }), 1, NOW, policy)).toEqual({})
  })

  test('a transient error: after the schedule’s wait, counted; none left: never', () => {
    expect(planLlmRetry(failure({}), 1, NOW, policy)).toEqual({
      retry: { at: NOW + 2 * SECOND, countAttempt: true },
    })
    expect(planLlmRetry(failure({}), 3, NOW, policy)).toEqual({})
  })

  test('the upstream’s Retry-After lengthens the wait, up to LLM_MAX_PAUSE', () => {
    expect(planLlmRetry(failure({ retryAfterMs: 30 * SECOND }), 1, NOW, policy).retry?.at).toBe(
      NOW + 30 * SECOND,
    )
    expect(planLlmRetry(failure({ retryAfterMs: 3_600_000 }), 1, NOW, policy).retry?.at).toBe(
      NOW + 5 * MINUTE,
    )
  })

  test('a provider’s 429 pauses its model as long as the job waits', () => {
    expect(planLlmRetry(limited({ retryAfterMs: MINUTE }), 1, NOW, policy)).toEqual({
      retry: { at: NOW + MINUTE, countAttempt: true },
      pause: { scope: 'model', until: NOW + MINUTE },
    })
    // Out of retries, the job fails, and the model is still paused for what the upstream asked.
    expect(planLlmRetry(limited({ retryAfterMs: MINUTE }), 3, NOW, policy)).toEqual({
      pause: { scope: 'model', until: NOW + MINUTE },
    })
  })

  test('the account’s quota, refilled after the retries would be spent: waited for, capped, the attempt given back', () => {
    const quota = limited({ rateLimitScope: 'account', rateLimitResetAt: NOW + 3 * 60 * MINUTE })
    expect(planLlmRetry(quota, 1, NOW, policy)).toEqual({
      retry: { at: NOW + 5 * MINUTE, countAttempt: false },
      pause: { scope: 'account', until: NOW + 5 * MINUTE },
    })
  })

  test('the account’s quota, refilled within the schedule: counted, every call paused until it refills', () => {
    const soon = limited({ rateLimitScope: 'account', rateLimitResetAt: NOW + 5 * SECOND })
    expect(planLlmRetry(soon, 1, NOW, policy)).toEqual({
      retry: { at: NOW + 5 * SECOND, countAttempt: true },
      pause: { scope: 'account', until: NOW + 5 * SECOND },
    })
  })
})

describe('where a callback attempt leaves the job', () => {
  const schedule = [5 * SECOND, 5 * MINUTE]
  test('delivered, retried after the schedule’s wait, or dead when it is spent or the refusal is final', () => {
    expect(planDelivery({ ok: true, retryable: true }, 0, schedule, NOW)).toEqual({ status: 'delivered' })
    expect(planDelivery({ ok: false, retryable: true }, 0, schedule, NOW)).toEqual({
      status: 'delivering',
      retryAt: NOW + 5 * SECOND,
    })
    expect(planDelivery({ ok: false, retryable: true }, 1, schedule, NOW)).toEqual({
      status: 'delivering',
      retryAt: NOW + 5 * MINUTE,
    })
    expect(planDelivery({ ok: false, retryable: true }, 2, schedule, NOW)).toEqual({ status: 'dead' })
    expect(planDelivery({ ok: false, retryable: false }, 0, schedule, NOW)).toEqual({ status: 'dead' })
  })
})

import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai'
import type { ErrorCode } from '../job.ts'
import type { LlmFailure } from './llm.ts'

/** Which HTTP statuses are worth another try, and under which code the job fails otherwise. */
function codeForStatus(status: number): { code: ErrorCode; retryable: boolean } {
  if (status === 429) return { code: 'llm_rate_limited', retryable: true }
  if (status === 408) return { code: 'llm_timeout', retryable: true }
  if (status >= 500) return { code: 'llm_unavailable', retryable: true }
  if (status === 401) return { code: 'llm_auth', retryable: false }
  if (status === 402) return { code: 'llm_payment_required', retryable: false }
  if (status === 403) return { code: 'llm_forbidden', retryable: false }
  if (status === 404) return { code: 'llm_model_not_found', retryable: false }
  return { code: 'llm_bad_request', retryable: false }
}

/** `Retry-After` is seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** OpenRouter sends epoch milliseconds; others send epoch seconds or seconds from now. */
export function parseRateLimitReset(value: string | null, now: number): number | undefined {
  if (value === null || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined
  const n = Number(value)
  if (n > 1e12) return Math.round(n)
  if (n > 1e9) return Math.round(n * 1000)
  return now + Math.round(n * 1000)
}

/** Removes secrets from upstream text; the client is given the one built from the configuration. */
export type Scrub = (text: string) => string

/** Scrubbed before it is cut short, so no cut leaves a secret's beginning behind. */
function describe(status: number | undefined, message: string, scrub: Scrub): string {
  const text = scrub(message).replace(/\s+/g, ' ').trim().slice(0, 500)
  return status === undefined ? text : `LLM API answered ${status}: ${text}`
}

const ACCOUNT_LIMIT_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'] as const

/**
 * OpenRouter's own limits (free-model requests per minute and per day) are the account's and
 * come with `X-RateLimit-*` headers, on the response or in the error's `metadata.headers`; an
 * upstream provider's 429 ("rate-limited upstream") comes without them and limits one model.
 * https://openrouter.ai/docs/api-reference/limits
 */
function accountLimitHeaders(headers: Headers | undefined, body: unknown): Headers {
  const found = new Headers()
  const metadata = (body as { metadata?: { headers?: unknown } } | undefined)?.metadata?.headers
  if (metadata !== null && typeof metadata === 'object')
    for (const [name, value] of Object.entries(metadata))
      if (typeof value === 'string' || typeof value === 'number') found.set(name, String(value))
  for (const name of ACCOUNT_LIMIT_HEADERS) {
    const value = headers?.get(name)
    if (value !== null && value !== undefined) found.set(name, value)
  }
  return found
}

/** The account is limited when its limit headers are there and do not say requests remain. */
function rateLimitScope(limits: Headers): 'model' | 'account' {
  if (!ACCOUNT_LIMIT_HEADERS.some((name) => limits.has(name))) return 'model'
  const remaining = limits.get('x-ratelimit-remaining')
  return remaining !== null && Number(remaining) > 0 ? 'model' : 'account'
}

export function classifyLlmError(error: unknown, now: number, scrub: Scrub): LlmFailure {
  if (error instanceof APIConnectionTimeoutError)
    return { code: 'llm_timeout', message: 'The LLM call timed out.', retryable: true }
  if (error instanceof APIConnectionError)
    return {
      code: 'llm_unavailable',
      message: describe(undefined, `Could not reach the LLM API: ${error.message}`, scrub),
      retryable: true,
    }
  if (error instanceof APIError && typeof error.status === 'number') {
    const { code, retryable } = codeForStatus(error.status)
    const failure: LlmFailure = { code, retryable, message: describe(error.status, error.message, scrub) }
    const headers = error.headers
    const retryAfter = parseRetryAfter(headers?.get('retry-after') ?? null, now)
    if (retryAfter !== undefined) failure.retryAfterMs = retryAfter
    if (error.status === 429) {
      const limits = accountLimitHeaders(headers, error.error)
      failure.rateLimitScope = rateLimitScope(limits)
      const reset = parseRateLimitReset(limits.get('x-ratelimit-reset'), now)
      if (reset !== undefined) failure.rateLimitResetAt = reset
    }
    return failure
  }
  const message = error instanceof Error ? error.message : String(error)
  return {
    code: 'llm_unavailable',
    message: describe(undefined, `LLM call failed: ${message}`, scrub),
    retryable: true,
  }
}

/**
 * OpenRouter can answer 200 with `{error: {code, message}}` in the body (an upstream
 * provider failed after the router accepted the call): that is an error, classified by
 * the code it carries. https://openrouter.ai/docs/api-reference/errors
 */
export function classifyErrorInBody(body: { error?: unknown }, scrub: Scrub): LlmFailure | undefined {
  const inner = body.error as { code?: unknown; message?: unknown } | undefined | null
  if (inner === undefined || inner === null) return undefined
  const status = typeof inner.code === 'number' ? inner.code : Number(inner.code)
  const message = typeof inner.message === 'string' ? inner.message : JSON.stringify(inner)
  if (Number.isInteger(status) && status >= 400) {
    const { code, retryable } = codeForStatus(status)
    const failure: LlmFailure = { code, retryable, message: describe(status, message, scrub) }
    // Inside a 200 there are no account headers: the provider behind the router refused.
    if (status === 429) failure.rateLimitScope = 'model'
    return failure
  }
  return {
    code: 'llm_error',
    retryable: true,
    message: describe(undefined, `LLM API error: ${message}`, scrub),
  }
}

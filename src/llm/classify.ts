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

function describe(status: number | undefined, message: string): string {
  const text = message.replace(/\s+/g, ' ').trim().slice(0, 500)
  return status === undefined ? text : `LLM API answered ${status}: ${text}`
}

export function classifyLlmError(error: unknown, now: number): LlmFailure {
  if (error instanceof APIConnectionTimeoutError)
    return { code: 'llm_timeout', message: 'The LLM call timed out.', retryable: true }
  if (error instanceof APIConnectionError)
    return {
      code: 'llm_unavailable',
      message: `Could not reach the LLM API: ${error.message}`,
      retryable: true,
    }
  if (error instanceof APIError && typeof error.status === 'number') {
    const { code, retryable } = codeForStatus(error.status)
    const failure: LlmFailure = { code, retryable, message: describe(error.status, error.message) }
    const headers = error.headers
    if (headers) {
      const retryAfter = parseRetryAfter(headers.get('retry-after'), now)
      if (retryAfter !== undefined) failure.retryAfterMs = retryAfter
      const reset = parseRateLimitReset(headers.get('x-ratelimit-reset'), now)
      if (reset !== undefined && error.status === 429) failure.rateLimitResetAt = reset
    }
    return failure
  }
  const message = error instanceof Error ? error.message : String(error)
  return { code: 'llm_unavailable', message: `LLM call failed: ${message}`, retryable: true }
}

/**
 * OpenRouter can answer 200 with `{error: {code, message}}` in the body (an upstream
 * provider failed after the router accepted the call): that is an error, classified by
 * the code it carries. https://openrouter.ai/docs/api-reference/errors
 */
export function classifyErrorInBody(body: { error?: unknown }): LlmFailure | undefined {
  const inner = body.error as { code?: unknown; message?: unknown } | undefined | null
  if (inner === undefined || inner === null) return undefined
  const status = typeof inner.code === 'number' ? inner.code : Number(inner.code)
  const message = typeof inner.message === 'string' ? inner.message : JSON.stringify(inner)
  if (Number.isInteger(status) && status >= 400) {
    const { code, retryable } = codeForStatus(status)
    return { code, retryable, message: describe(status, message) }
  }
  return { code: 'llm_error', retryable: true, message: describe(undefined, `LLM API error: ${message}`) }
}

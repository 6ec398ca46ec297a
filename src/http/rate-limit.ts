import { Elysia } from 'elysia'
import type { Context as RateLimitContext } from 'elysia-rate-limit'
import type { Clock } from '../clock.ts'
import { isOpenPath } from './auth.ts'
import { Problem, tooManyRequests } from './problem.ts'
import { clientAddress, pathOf, type Server } from './request-info.ts'

export interface ApiRateLimit {
  max: number
  windowMs: number
  /** Where windows are counted (this process's memory, Redis, PostgreSQL): elysia-rate-limit's store port. */
  store: RateLimitContext
}

/**
 * RATE_LIMIT_MAX per RATE_LIMIT_WINDOW, per key (per address without one), or a stored client's
 * own `rate_limit` (which applies even where RATE_LIMIT_MAX is 0); health and docs are free.
 * Every request to a limited path counts as it arrives (an unknown route, a body that does not
 * parse or validate included), and one the relay fails with a 5xx is given back. Answers carry
 * `RateLimit-Limit`, `-Remaining` and `-Reset`; a 429 also `Retry-After`.
 *
 * The hooks of elysia-rate-limit (whose store port this keeps) cost a tenth of an intake request
 * here: they ask Elysia to parse every request's cookies, copy the context, and await four times.
 * This is one hook, which awaits only a store outside this process.
 */
export function apiRateLimit(
  limit: ApiRateLimit,
  client: (request: Request) => { owner: string; settings: { rateLimit: number | null } },
  o: { trustProxy: boolean; clock: Clock },
) {
  const { store } = limit
  const { trustProxy, clock } = o
  // The port's stores read only the window's length from the plugin's options.
  store.init({ duration: limit.windowMs, max: limit.max } as Parameters<RateLimitContext['init']>[0])
  const counted = new WeakMap<Request, string>()
  /** The window's headers on the answer; past the limit, a 429 carrying them. */
  const apply = (
    window: { count: number; nextReset: Date },
    max: number,
    headers: Record<string, unknown>,
  ) => {
    const limitHeader = String(max)
    const reset = String(Math.max(0, Math.ceil((window.nextReset.getTime() - clock.now()) / 1000)))
    const remaining = String(Math.max(0, max - window.count))
    if (window.count <= max) {
      headers['ratelimit-limit'] = limitHeader
      headers['ratelimit-remaining'] = remaining
      headers['ratelimit-reset'] = reset
      return
    }
    // Thrown, not returned: the problem mapping answers it and the request is logged as any other.
    const { status, detail } = tooManyRequests()
    throw new Problem(status, detail, undefined, {
      'ratelimit-limit': limitHeader,
      'ratelimit-remaining': remaining,
      'ratelimit-reset': reset,
      'retry-after': reset,
    })
  }
  return new Elysia()
    .onRequest(({ request, server, set }) => {
      const path = pathOf(request.url)
      if (isOpenPath(path) || path === '/metrics') return
      const { owner, settings } = client(request)
      const max = settings.rateLimit ?? limit.max
      if (max <= 0) return
      const key = owner !== '' ? `key:${owner}` : `ip:${clientAddress(request, server as Server, trustProxy)}`
      counted.set(request, key)
      const window = store.increment(key)
      // A store in this process's memory answers at once: no await on its requests' path.
      if (window instanceof Promise) return window.then((w) => apply(w, max, set.headers))
      apply(window, max, set.headers)
    })
    .onError({ as: 'global' }, ({ code, error, request }) => {
      const key = counted.get(request)
      // The relay's own failure (a store outage, say) is not counted against the client; a
      // refused request (a 4xx: an unknown route, a body that fails validation) is.
      if (key === undefined || isClientError(code, error)) return
      void Promise.resolve(store.decrement(key)).catch(() => {})
    })
}

function isClientError(code: unknown, error: unknown): boolean {
  if (error instanceof Problem) return error.status < 500
  if (error instanceof Error && error.cause instanceof Problem) return error.cause.status < 500
  return (
    code === 'NOT_FOUND' || code === 'PARSE' || code === 'VALIDATION' || code === 'INVALID_COOKIE_SIGNATURE'
  )
}

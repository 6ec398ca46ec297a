import { type Context as RateLimitContext, rateLimit } from 'elysia-rate-limit'
import { isOpenPath } from './auth.ts'
import { problemResponse, tooManyRequests } from './problem.ts'
import { clientAddress, pathOf, type Server } from './request-info.ts'

export interface ApiRateLimit {
  max: number
  windowMs: number
  /** Where windows are counted; absent, in this process's memory. */
  store?: RateLimitContext
}

/**
 * RATE_LIMIT_MAX per RATE_LIMIT_WINDOW, per key (per address without one), or a stored client's
 * own `rate_limit` (which applies even where RATE_LIMIT_MAX is 0); health and docs are free.
 */
export function apiRateLimit(
  limit: ApiRateLimit,
  client: (request: Request) => { owner: string; settings: { rateLimit: number | null } },
  trustProxy: boolean,
) {
  const maxOf = (request: Request): number => client(request).settings.rateLimit ?? limit.max
  return rateLimit({
    max: (_key, request) => maxOf(request),
    duration: limit.windowMs,
    ...(limit.store ? { context: limit.store } : {}),
    scoping: 'global',
    generator: (request, server) => {
      const owner = client(request).owner
      return owner !== '' ? `key:${owner}` : `ip:${clientAddress(request, server as Server, trustProxy)}`
    },
    skip: (request) => {
      const path = pathOf(request.url)
      return isOpenPath(path) || path === '/metrics' || maxOf(request) <= 0
    },
    errorResponse: problemResponse(tooManyRequests(), ''),
  })
}

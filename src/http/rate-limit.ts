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

/** RATE_LIMIT_MAX per RATE_LIMIT_WINDOW, per key (per address without one); health and docs are free. */
export function apiRateLimit(limit: ApiRateLimit, owner: (request: Request) => string, trustProxy: boolean) {
  return rateLimit({
    max: limit.max,
    duration: limit.windowMs,
    ...(limit.store ? { context: limit.store } : {}),
    scoping: 'global',
    generator: (request, server) =>
      owner(request) !== ''
        ? `key:${owner(request)}`
        : `ip:${clientAddress(request, server as Server, trustProxy)}`,
    skip: (request) => {
      const path = pathOf(request.url)
      return isOpenPath(path) || path === '/metrics'
    },
    errorResponse: problemResponse(tooManyRequests(), ''),
  })
}

import { Elysia } from 'elysia'
import type { Clock } from '../clock.ts'
import { type ApiKeyAuth, isOpenPath } from './auth.ts'
import type { FailedAuthLimit } from './failed-auth-limit.ts'
import { Problem } from './problem.ts'
import { clientAddress, pathOf, type Server } from './request-info.ts'

export interface ApiKeyGuardDeps {
  auth: ApiKeyAuth
  failedAuth: FailedAuthLimit
  clock: Clock
  trustProxy: boolean
}

/**
 * Checks the key before the body is read: a stranger learns nothing about what a valid body
 * is. A wrong key counts against its address; once the address is over its count, wrong keys
 * get 429 instead of 401 (a right key still passes).
 */
export function apiKeyGuard(deps: ApiKeyGuardDeps) {
  const failed = (error: unknown, request: Request, server: unknown): never => {
    // Only a wrong key counts: not a disabled client's (403), nor a database fault (503).
    if (error instanceof Problem && error.status === 401) {
      const address = clientAddress(request, server as Server, deps.trustProxy)
      const now = deps.clock.now()
      deps.failedAuth.check(address, now)
      deps.failedAuth.record(address, now)
    }
    throw error
  }
  return new Elysia().onRequest(({ request, server }) => {
    // Without API_KEYS there is no key to check, and no failed check to count.
    if (!deps.auth.enabled) return
    const path = pathOf(request.url)
    if (isOpenPath(path)) return
    try {
      const client = deps.auth.authenticate(request, path)
      // A stored client's key is looked up (usually in memory); a key from API_KEYS is known at once.
      if (client instanceof Promise)
        return client.then(
          () => undefined,
          (error) => failed(error, request, server),
        )
    } catch (error) {
      failed(error, request, server)
    }
  })
}

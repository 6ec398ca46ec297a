import { Elysia } from 'elysia'
import { shuttingDown } from './problem.ts'
import { pathOf } from './request-info.ts'

/** While the relay drains, everything but liveness and readiness gets 503 with Retry-After. */
export function drainingGate(accepting: () => boolean) {
  return new Elysia().onRequest(({ request }) => {
    if (accepting()) return
    const path = pathOf(request.url)
    if (path !== '/health' && path !== '/ready') throw shuttingDown()
  })
}

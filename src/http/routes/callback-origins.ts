import { Elysia } from 'elysia'
import type { OriginStore } from '../../store/origin-store.ts'
import { adminOnly } from '../admin-only.ts'
import { CallbackOriginList } from '../origin-schemas.ts'
import { problems } from '../problem.ts'

export interface CallbackOriginsDeps {
  origins: OriginStore
  isAdmin: (request: Request) => boolean
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

export function callbackOriginRoutes(deps: CallbackOriginsDeps) {
  const requireAdmin = adminOnly(deps.isAdmin, 'Reading the callback origins')
  return new Elysia({ name: 'callback-origins' })
    .onBeforeHandle({ as: 'local' }, ({ request }) => requireAdmin(request))
    .get(
      '/callback-origins',
      async () => ({
        origins: (await deps.origins.listOrigins()).map((o) => ({
          origin: o.origin,
          state: o.state,
          failures: o.failures,
          last_error: o.lastError,
          last_failure_at: iso(o.lastFailureAt),
          opened_at: iso(o.openedAt),
          next_probe_at: iso(o.probeAt),
          backlog: o.backlog,
        })),
      }),
      {
        response: { 200: CallbackOriginList, ...problems(403) },
        detail: {
          tags: ['Operations'],
          summary: 'The health of each callback receiver',
          description:
            'Each origin (scheme, host, port) that has failed: its breaker state, failure streak, last error and backlog. After `CALLBACK_BREAKER_FAILURES` failures in a row it is open; the first successful probe closes it and releases its backlog in acceptance order. Admin keys only.',
        },
      },
    )
}

import { Elysia } from 'elysia'
import type { Store } from '../../store/store.ts'
import { Health, Readiness } from '../schemas.ts'

export function healthRoutes(deps: { store: Store; accepting: () => boolean }) {
  return new Elysia({ name: 'health' })
    .get('/health', () => ({ status: 'ok' as const }), {
      response: { 200: Health },
      detail: { tags: ['Operations'], summary: 'Liveness', description: 'The process answers.' },
    })
    .get(
      '/ready',
      async ({ status }) => {
        const ok = deps.accepting() && (await deps.store.ping().catch(() => false))
        return ok
          ? status(200, { status: 'ready' as const })
          : status(503, { status: 'unavailable' as const })
      },
      {
        response: { 200: Readiness, 503: Readiness },
        detail: {
          tags: ['Operations'],
          summary: 'Readiness',
          description: '200 only when the database answers and the relay accepts work.',
        },
      },
    )
}

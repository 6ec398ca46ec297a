import { Elysia, t } from 'elysia'
import type { RelayMetrics } from '../../metrics.ts'
import type { Store } from '../../store/store.ts'
import { Health, Readiness } from '../schemas.ts'

export function healthRoutes(deps: { store: Store; accepting: () => boolean; metrics: RelayMetrics }) {
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
    .get(
      '/metrics',
      async ({ set }) => {
        set.headers['content-type'] = 'text/plain; version=0.0.4; charset=utf-8'
        return deps.metrics.render()
      },
      {
        response: { 200: t.String({ description: 'Prometheus text exposition format.' }) },
        detail: {
          tags: ['Operations'],
          summary: 'Prometheus metrics',
          description:
            'Jobs accepted and finished, queue depth by status, jobs in flight, LLM call and callback durations and errors, HTTP request durations. Needs an API key when API_KEYS is set.',
        },
      },
    )
}

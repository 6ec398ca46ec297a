import { Elysia, type Static, t } from 'elysia'
import type { RelayMetrics } from '../../metrics.ts'
import { Health, Readiness } from '../schemas.ts'

/** One thing the relay needs to accept work; `isUp` resolves (never rejects) within a short time. */
export interface ReadinessCheck {
  name: string
  isUp(): Promise<boolean>
}

type Checks = Static<typeof Readiness>['checks']

export function healthRoutes(deps: {
  accepting: () => boolean
  /** The store's ping first, then what else the relay depends on (Redis, when it keeps the limits). */
  checks: readonly ReadinessCheck[]
  metrics: RelayMetrics
}) {
  return new Elysia({ name: 'health' })
    .get('/health', () => ({ status: 'ok' as const }), {
      response: { 200: Health },
      detail: { tags: ['Operations'], summary: 'Liveness', description: 'The process answers.' },
    })
    .get(
      '/ready',
      async ({ status, set }) => {
        const states = await Promise.all(deps.checks.map(async (c) => [c.name, await c.isUp()] as const))
        const checks: Record<string, 'pass' | 'fail'> = { accepting: deps.accepting() ? 'pass' : 'fail' }
        for (const [name, up] of states) checks[name] = up ? 'pass' : 'fail'
        if (Object.values(checks).every((state) => state === 'pass'))
          return status(200, { status: 'ready' as const, checks: checks as Checks })
        set.headers['retry-after'] = '5'
        return status(503, { status: 'unavailable' as const, checks: checks as Checks })
      },
      {
        response: { 200: Readiness, 503: Readiness },
        detail: {
          tags: ['Operations'],
          summary: 'Readiness',
          description:
            '200 only when the relay can accept work: it is not draining, the database answers a ping within 1 s and, with REDIS_URL, Redis answers. Otherwise 503 with `Retry-After: 5` and the failing check named in `checks`. While Redis is out the relay still accepts work, with the limits counted per instance, and says 503 here so that the outage shows.',
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
            'Jobs accepted and finished, queue depth by status, jobs in flight, LLM call and callback durations and errors, HTTP request durations, whether each dependency is up. Needs an API key when API_KEYS is set.',
        },
      },
    )
}

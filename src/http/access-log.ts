import { Elysia } from 'elysia'
import type { Logger } from '../log.ts'
import { infoLine } from '../log-line.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { RequestInfos } from './request-info.ts'

export interface AccessLogDeps {
  logger: Logger
  metrics: RelayMetrics
  infos: RequestInfos
  /** The key's name for the log line ('anonymous' without one). */
  clientName: (request: Request) => string
}

/** One line and one duration sample per request, after the response has gone. */
export function accessLog(deps: AccessLogDeps) {
  return new Elysia().onAfterResponse({ as: 'global' }, (context) => {
    const { request, path, set } = context
    const info = deps.infos.of(request)
    const ms = info === undefined ? 0 : performance.now() - info.started
    // A Response a hook returned (the rate limiter's 429) carries its own status; set has the rest.
    const returned = (context as { responseValue?: unknown }).responseValue
    const status =
      returned instanceof Response ? returned.status : typeof set.status === 'number' ? set.status : 200
    // The route pattern, not the path, so job ids do not each become a series.
    const route = (context as { route?: string }).route ?? 'unmatched'
    deps.metrics.httpDuration.observe({ method: request.method, route, status: String(status) }, ms / 1000)
    // A request that accepted a job is also that job's acceptance line (one line, not two).
    const job = info?.accepted
    infoLine(
      deps.logger,
      {
        request_id: info?.id,
        method: request.method,
        route,
        path,
        status,
        ms: Math.round(ms * 100) / 100,
        client: deps.clientName(request),
        job_id: job?.id,
        conversation_id: job?.conversationId,
        outcome: job && 'accepted',
      },
      'request',
    )
  })
}

import type { Clock } from '../clock.ts'
import type { Deliverer } from '../delivery/deliverer.ts'
import type { Logger } from '../log.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { Job, Store } from '../store/store.ts'
import type { Tracer } from '../telemetry/tracer.ts'
import type { JobRun } from './job-run.ts'
import { planDelivery } from './retry-policy.ts'

export interface DeliveryStageOptions {
  store: Store
  deliverer: Deliverer
  clock: Clock
  logger: Logger
  metrics: RelayMetrics
  workerId: string
  callbackRetrySchedule: readonly number[]
  scrub: (text: string) => string
  tracer: Tracer
}

/** A job's callback attempt: one POST, recorded with its outcome (delivered, retry later, dead). */
export class DeliveryStage {
  constructor(private readonly o: DeliveryStageOptions) {}

  async deliver(job: Job, run: JobRun): Promise<void> {
    const { store, deliverer, clock, metrics, workerId, logger } = this.o
    const span = this.o.tracer.startCallbackAttempt(job)
    const started = clock.now()
    const result = await deliverer.deliver(job, span?.headers)
    const error = result.error && { ...result.error, message: this.o.scrub(result.error.message) }
    const outcome = planDelivery(result, job.deliveryFailures, this.o.callbackRetrySchedule, clock.now())
    const log = logger.child({ job_id: job.id, conversation_id: job.conversationId })
    const stored = await run.finishStage('lease runs out', log, 'the callback attempt', () =>
      store.recordDeliveryAttempt(
        job.id,
        workerId,
        { at: started, statusCode: result.statusCode, error, durationMs: result.durationMs },
        outcome,
      ),
    )
    const recorded = stored.written && stored.value
    const outcomeName = outcome.status === 'delivering' ? 'retry' : outcome.status
    span?.end({ outcome: outcomeName, statusCode: result.statusCode, error: error?.code })
    metrics.deliveryAttempts.inc({ outcome: outcomeName })
    metrics.deliveryDuration.observe({ outcome: outcomeName }, result.durationMs / 1000)
    if (outcome.status !== 'delivering' && recorded)
      metrics.jobsFinished.inc({
        status: outcome.status,
        type: job.response === null ? 'failed' : 'completed',
      })
    log.info(
      {
        attempt: job.deliveryAttempts + 1,
        outcome: outcome.status,
        status_code: result.statusCode,
        code: error?.code,
        ms: result.durationMs,
        recorded,
      },
      result.ok ? 'callback delivered' : `callback failed: ${error?.message ?? ''}`,
    )
  }
}

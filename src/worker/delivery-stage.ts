import type { Clock } from '../clock.ts'
import type { Deliverer } from '../delivery/deliverer.ts'
import type { OriginBreaker } from '../delivery/origin-breaker.ts'
import type { JobError } from '../job.ts'
import type { Logger } from '../log.ts'
import { infoLine } from '../log-line.ts'
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
  /** The callback origins' breaker and in-flight cap; absent, every callback goes. */
  breaker?: OriginBreaker
  /** A job ended dead here (for the operator's `job.dead`). */
  onDead?: (job: Job, error: JobError | null) => void
}

/**
 * A job's callback attempt: one POST, recorded with its outcome (delivered, retry later, dead).
 * For a job awaiting tool results the POST is its round's `job.tool_calls` event, whose
 * schedule running out leaves the job waiting for its results (or their timeout).
 */
export class DeliveryStage {
  constructor(private readonly o: DeliveryStageOptions) {}

  async deliver(job: Job, run: JobRun): Promise<void> {
    const { store, deliverer, clock, metrics, workerId, logger, breaker } = this.o
    const log = logger.child({ job_id: job.id, conversation_id: job.conversationId })
    const toolCalls = job.status === 'awaiting_tool_results'
    const gate = breaker && (await breaker.admit(job.callbackUrl))
    if (gate && !gate.go) {
      // No attempt is made or counted: the origin is open (or busy here); the job waits.
      await run.finishStage('lease runs out', log, 'the deferral', () =>
        store.deferDelivery(job.id, workerId, gate.until, clock.now()),
      )
      metrics.deliveriesDeferred.inc({ reason: gate.reason })
      log.debug({ origin: gate.origin, until: gate.until, reason: gate.reason }, 'callback deferred')
      return
    }
    // A span per attempt made: a deferral is none.
    const span = this.o.tracer.startCallbackAttempt(job)
    const started = clock.now()
    let result: Awaited<ReturnType<Deliverer['deliver']>>
    try {
      result = await deliverer.deliver(job, span?.headers)
    } finally {
      gate?.done()
    }
    const error = result.error && { ...result.error, message: this.o.scrub(result.error.message) }
    const outcome = planDelivery(result, job.deliveryFailures, this.o.callbackRetrySchedule, clock.now())
    const attempt = { at: started, statusCode: result.statusCode, error, durationMs: result.durationMs }
    const stored = await run.finishStage('lease runs out', log, 'the callback attempt', () =>
      toolCalls
        ? store.recordToolCallsAttempt(job.id, workerId, job.toolRounds.length, attempt, outcome)
        : store.recordDeliveryAttempt(job.id, workerId, attempt, outcome),
    )
    const recorded = stored.written && stored.value
    const outcomeName = outcome.status === 'delivering' ? 'retry' : outcome.status
    span?.end({ outcome: outcomeName, statusCode: result.statusCode, error: error?.code })
    metrics.deliveryAttempts.inc({ outcome: outcomeName })
    metrics.deliveryDuration.observe({ outcome: outcomeName }, result.durationMs / 1000)
    if (outcome.status !== 'delivering' && recorded && !toolCalls)
      metrics.jobsFinished.inc({
        status: outcome.status,
        type: job.response === null ? 'failed' : 'completed',
      })
    if (outcome.status === 'dead' && recorded && !toolCalls) this.o.onDead?.(job, error)
    if (gate && breaker)
      await breaker
        .record(gate.origin, error)
        .catch((err: unknown) =>
          log.warn({ err, origin: gate.origin }, 'could not record the callback origin’s health'),
        )
    infoLine(
      log,
      {
        ...(toolCalls && { event: 'job.tool_calls', round: job.toolRounds.length }),
        attempt: job.deliveryAttempts + 1,
        outcome: outcome.status,
        status_code: result.statusCode,
        code: error?.code,
        ms: result.durationMs,
        recorded,
        ...(gate?.probe ? { probe: true } : {}),
      },
      result.ok ? 'callback delivered' : `callback failed: ${error?.message ?? ''}`,
    )
  }
}

import type { Clock } from '../clock.ts'
import type { Deliverer } from '../delivery/deliverer.ts'
import type { JobError } from '../job.ts'
import type { CallBudget } from '../limits/call-budget.ts'
import type { LlmClient } from '../llm/llm.ts'
import { buildPrompt } from '../llm/prompt.ts'
import type { Logger } from '../log.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { Job, Store } from '../store/store.ts'
import { HeldLease } from './held-lease.ts'
import { type ActivePause, pauseMessage, type RateLimitPauses } from './rate-limit-pauses.ts'
import { type LlmRetryPolicy, planDelivery, planLlmRetry, type RateLimitPause } from './retry-policy.ts'
import type { Slot, SlotPools } from './slots.ts'
import { type StageWrite, type StoreWaits, type WriteUntil, writeWhileLeased } from './stage-write.ts'

export interface PipelineOptions {
  store: Store
  llm: LlmClient
  deliverer: Deliverer
  budget: CallBudget
  clock: Clock
  logger: Logger
  metrics: RelayMetrics
  pools: SlotPools
  pauses: RateLimitPauses
  waits: StoreWaits
  workerId: string
  leaseMs: number
  historyMaxMessages: number
  llmRetry: LlmRetryPolicy
  callbackRetrySchedule: readonly number[]
  maxResponseChars: number
  /** Takes secrets out of upstream text (LLM errors, callback errors) before it is logged or stored. */
  scrub: (text: string) => string
}

/** How much of a too-long answer its error keeps, for whoever looks into it. */
const TOO_LARGE_EXCERPT = 200

const iso = (ms: number): string => new Date(ms).toISOString()

/** One run of a claimed job through its stages. */
interface Run {
  jobId: string
  slot: Slot
  lease: HeldLease
}

/**
 * A claimed job's stages: LLM call → stored answer (or retry, or failure) → callback attempt,
 * each stage ended by one store transaction, under a lease renewed while the job runs.
 */
export class Pipeline {
  /**
   * The jobs whose lease a run here holds, each with its run: a claim of one of them (its lease
   * ran out while the store was away) must not start a second run, which would ask the LLM again.
   */
  private readonly holding = new Map<string, Run>()

  constructor(private readonly o: PipelineOptions) {}

  /** Whether a run here holds the job's lease. */
  holds(jobId: string): boolean {
    return this.holding.has(jobId)
  }

  async run(claimed: Job, slot: Slot): Promise<void> {
    const { store, clock, logger, workerId, leaseMs, pools } = this.o
    const lease = new HeldLease({ store, clock, logger, jobId: claimed.id, workerId, leaseMs })
    const run: Run = { jobId: claimed.id, slot, lease }
    this.holding.set(claimed.id, run)
    try {
      const job = claimed.status === 'processing' ? await this.answer(claimed, run) : claimed
      if (job?.status !== 'delivering') return
      if (slot.pool === undefined) {
        // Answered here: on to a callback slot, or, with none free, give the lease back for
        // the delivery stage to claim the job when one is.
        if (pools.deliveryFree === 0) {
          lease.end()
          this.letGo(run)
          await store.releaseLease(job.id, workerId, clock.now())
          return
        }
        pools.enter(slot, 'delivery')
      }
      await this.deliver(job, run)
    } catch (error) {
      // A store fault mid-pipeline: the lease runs out and the job is claimed again.
      logger.error({ err: error, job_id: claimed.id }, 'job pipeline failed; it will be retried')
    } finally {
      lease.end()
      this.letGo(run)
    }
  }

  /** From here on a claim of the job starts a run of its own. */
  private letGo(run: Run): void {
    if (this.holding.get(run.jobId) === run) this.holding.delete(run.jobId)
  }

  /**
   * Queues a stage's last write, frees the slot as it is queued (the next claim shares its
   * commit), and sees it land. A write that gives the job up lets it go first, so a claim
   * that follows it starts the job's next run.
   */
  private finishStage<T>(
    run: Run,
    until: WriteUntil,
    log: Logger,
    what: string,
    write: () => Promise<T>,
  ): Promise<StageWrite<T>> {
    if (until === 'lease runs out') this.letGo(run)
    const { clock, waits } = this.o
    const written = writeWhileLeased(write, { lease: run.lease, until, clock, log, waits, what })
    this.o.pools.leave(run.slot)
    return written
  }

  private async answer(job: Job, run: Run): Promise<Job | undefined> {
    const { store, llm, clock, metrics, workerId } = this.o
    const log = this.o.logger.child({
      job_id: job.id,
      conversation_id: job.conversationId,
      attempt: job.llmAttempts,
    })
    const paused = this.o.pauses.holding(job.model, clock.now())
    if (paused) return this.waitForPause(job, run, paused, log)

    const history = await store.readHistory(job.owner, job.conversationId, this.o.historyMaxMessages)
    const started = clock.now()
    const result = await llm.complete({
      model: job.model,
      messages: buildPrompt(job.systemPrompt, history, job.message),
    })
    const now = clock.now()
    const seconds = (now - started) / 1000
    if (result.ok) {
      metrics.llmDuration.observe({ model: job.model, outcome: 'ok' }, seconds)
      const { content, model, usage } = result.answer
      if (content.length > this.o.maxResponseChars)
        return this.fail(job, run, this.tooLarge(content), now, log)
      const stored = await this.finishStage(run, 'lease lost', log, 'the answer', () =>
        store.recordAnswer(job.id, workerId, { response: content, model, usage }, now),
      )
      const answered = stored.written ? stored.value : undefined
      if (answered) log.info({ outcome: 'answered', model, ms: now - started }, 'job answered')
      else log.warn({ outcome: 'lease_lost' }, 'lease lost during the LLM call; answer dropped')
      return answered
    }

    metrics.llmDuration.observe({ model: job.model, outcome: 'error' }, seconds)
    metrics.llmErrors.inc({ code: result.failure.code, model: job.model })
    const plan = planLlmRetry(result.failure, job.llmAttempts, now, this.o.llmRetry)
    const error: JobError = { code: result.failure.code, message: this.o.scrub(result.failure.message) }
    if (plan.pause) {
      await this.pauseCalls(plan.pause, job.model)
      error.message += `; ${pauseMessage({ ...plan.pause, ...(plan.pause.scope === 'model' && { model: job.model }) })}`
    }
    if (!plan.retry) return this.fail(job, run, error, now, log)
    const { at, countAttempt } = plan.retry
    await this.finishStage(run, 'lease runs out', log, 'the LLM retry', () =>
      store.recordLlmRetry(job.id, workerId, error, at, countAttempt, now),
    )
    log.warn({ outcome: 'llm_retry', code: error.code, retry_at: iso(at) }, error.message)
    return undefined
  }

  /** The job failed for good: on to deliver `job.failed`; nothing joins history. */
  private async fail(
    job: Job,
    run: Run,
    error: JobError,
    now: number,
    log: Logger,
  ): Promise<Job | undefined> {
    const stored = await this.finishStage(run, 'lease lost', log, 'the LLM failure', () =>
      this.o.store.recordLlmFailure(job.id, this.o.workerId, error, now),
    )
    log.warn({ outcome: 'failed', code: error.code }, error.message)
    return stored.written ? stored.value : undefined
  }

  private tooLarge(content: string): JobError {
    const excerpt = Array.from(content.slice(0, TOO_LARGE_EXCERPT + 1))
      .slice(0, TOO_LARGE_EXCERPT)
      .join('')
    return {
      code: 'llm_response_too_large',
      message: `The answer had ${content.length} characters, more than MAX_RESPONSE_CHARS (${this.o.maxResponseChars}); it began: ${this.o.scrub(excerpt)}`,
    }
  }

  /** A 429 holds back what it limits: the model here, in memory; the account fleet-wide too. */
  private async pauseCalls(pause: RateLimitPause, model: string): Promise<void> {
    this.o.pauses.pause(pause, model)
    if (pause.scope === 'account')
      await this.o.budget.pauseUntil(pause.until).catch((err) => {
        this.o.logger.warn({ err }, 'the account pause could not be shared; this instance keeps it')
      })
  }

  /** Claimed while its model (or the account) is paused: back to the queue until the pause ends, the attempt given back, no call. */
  private async waitForPause(job: Job, run: Run, pause: ActivePause, log: Logger): Promise<undefined> {
    const { store, clock, workerId } = this.o
    const now = clock.now()
    const error: JobError = { code: 'llm_rate_limited', message: pauseMessage(pause) }
    const written = this.finishStage(run, 'lease runs out', log, 'the wait for a pause', () =>
      store.recordLlmRetry(job.id, workerId, error, pause.until, false, now),
    )
    // The call budget counted a call for this job: it made none.
    await this.o.budget.giveBack(1, now).catch(() => {})
    await written
    log.info({ outcome: 'llm_paused', retry_at: iso(pause.until) }, error.message)
    return undefined
  }

  private async deliver(job: Job, run: Run): Promise<void> {
    const { store, deliverer, clock, metrics, workerId, logger } = this.o
    const started = clock.now()
    const result = await deliverer.deliver(job)
    const error = result.error && { ...result.error, message: this.o.scrub(result.error.message) }
    const outcome = planDelivery(result, job.deliveryFailures, this.o.callbackRetrySchedule, clock.now())
    const log = logger.child({ job_id: job.id, conversation_id: job.conversationId })
    const stored = await this.finishStage(run, 'lease runs out', log, 'the callback attempt', () =>
      store.recordDeliveryAttempt(
        job.id,
        workerId,
        { at: started, statusCode: result.statusCode, error, durationMs: result.durationMs },
        outcome,
      ),
    )
    const recorded = stored.written && stored.value
    const outcomeName = outcome.status === 'delivering' ? 'retry' : outcome.status
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

import type { Clock } from '../clock.ts'
import type { Deliverer } from '../delivery/deliverer.ts'
import type { CallBudget } from '../limits/call-budget.ts'
import type { ChatMessage, LlmClient, LlmFailure } from '../llm/llm.ts'
import type { Logger } from '../log.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { DeliveryOutcome, Job, Store } from '../store/store.ts'
import { remainingWait, retryDelayFor } from './retry-schedule.ts'

export interface WorkerOptions {
  store: Store
  llm: LlmClient
  deliverer: Deliverer
  budget: CallBudget
  clock: Clock
  logger: Logger
  metrics: RelayMetrics
  workerId: string
  concurrency: number
  leaseMs: number
  historyMaxMessages: number
  llmRetrySchedule: readonly number[]
  callbackRetrySchedule: readonly number[]
}

/**
 * Which pool a running job holds a slot in. LLM calls and callbacks have a pool each, both
 * WORKER_CONCURRENCY large, so a slow callback receiver never holds up the LLM (nor the
 * other way round). `done`: it holds none (its last write in the stage is queued).
 */
type Stage = 'llm' | 'delivery' | 'done'
interface Slot {
  stage: Stage
}

/** Longest the worker sleeps with nothing due: a safety net for a missed wake-up. */
const IDLE_WAKE_MS = 30_000

/**
 * The claim loop. `wake()` runs it at once (a job was accepted, a job finished); a timer
 * runs it when the next retry or lease expiry is due. Each claimed job runs its pipeline:
 * LLM call → stored answer → callback attempt, every step one store transaction.
 */
export class Worker {
  private readonly inFlight = new Set<Promise<void>>()
  private llmActive = 0
  private deliveryActive = 0
  private running = false
  private pumping = false
  private again = false
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly o: WorkerOptions) {}

  get activeJobs(): number {
    return this.inFlight.size
  }

  start(): void {
    this.running = true
    this.wake()
  }

  wake(): void {
    if (!this.running) return
    if (this.pumping) {
      this.again = true
      return
    }
    this.pumping = true
    void this.pump()
  }

  /** Stops claiming, lets running jobs finish for up to `timeoutMs`, then gives back the leases left. */
  async stop(timeoutMs: number): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    let timeout: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => {
        timeout = setTimeout(resolve, timeoutMs)
      }),
    ])
    clearTimeout(timeout)
    const released = await this.o.store.releaseLeases(this.o.workerId, this.o.clock.now())
    if (released > 0) this.o.logger.info({ released }, 'released leases of unfinished jobs')
  }

  private async pump(): Promise<void> {
    let retryIn: number | undefined
    try {
      do {
        this.again = false
        const llmFree = this.o.concurrency - this.llmActive
        const deliveryFree = Math.max(0, this.o.concurrency - this.deliveryActive)
        const now = this.o.clock.now()
        // Slots are taken before the claim and the unused ones given back, so two instances
        // sharing one budget never start more calls than it allows.
        const slots = llmFree > 0 ? await this.o.budget.take(llmFree, now) : 0
        const wanted = slots + deliveryFree
        if (wanted === 0) break
        const jobs = await this.o.store.claimJobs({
          workerId: this.o.workerId,
          now,
          leaseMs: this.o.leaseMs,
          limit: wanted,
          llmLimit: slots,
          deliveryLimit: deliveryFree,
        })
        const calls = jobs.filter((job) => job.status === 'processing').length
        if (calls < slots) await this.o.budget.giveBack(slots - calls, now)
        for (const job of jobs) this.track(job)
        if (jobs.length === wanted) this.again = true
      } while (this.again && this.running)
    } catch (error) {
      this.o.logger.error({ err: error }, 'claiming jobs failed; trying again shortly')
      retryIn = 1000
    } finally {
      this.pumping = false
    }
    await this.schedule(retryIn)
  }

  private async schedule(retryIn: number | undefined): Promise<void> {
    if (!this.running) return
    const now = this.o.clock.now()
    let at = now + (retryIn ?? IDLE_WAKE_MS)
    try {
      const due = await this.o.store.nextWakeAt(now)
      if (due !== undefined) at = Math.min(at, due)
    } catch {
      // The claim path logs store faults; the fallback timer stands.
    }
    const slot = await this.o.budget.nextSlotAt(now).catch(() => undefined)
    if (slot !== undefined) at = Math.min(at, Math.max(slot, now + 1))
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.wake(), Math.max(0, at - this.o.clock.now()))
  }

  private track(job: Job): void {
    this.o.logger.debug(
      {
        job_id: job.id,
        conversation_id: job.conversationId,
        stage: job.status === 'processing' ? 'llm' : 'delivery',
        attempt: job.status === 'processing' ? job.llmAttempts : job.deliveryAttempts + 1,
        outcome: 'claimed',
      },
      'job claimed',
    )
    const slot: Slot = { stage: 'done' }
    this.enter(slot, job.status === 'processing' ? 'llm' : 'delivery')
    const run = this.run(job, slot).finally(() => {
      this.leave(slot)
      this.inFlight.delete(run)
      this.wake()
    })
    this.inFlight.add(run)
  }

  private enter(slot: Slot, stage: 'llm' | 'delivery'): void {
    if (stage === 'llm') this.llmActive++
    else this.deliveryActive++
    slot.stage = stage
  }

  /**
   * Called as the last write of a job's stage is queued: the claim for the next job joins the
   * same group commit instead of waiting a commit behind it (one commit less per hand-over).
   */
  private leave(slot: Slot): void {
    if (slot.stage === 'done') return
    if (slot.stage === 'llm') this.llmActive--
    else this.deliveryActive--
    slot.stage = 'done'
    this.wake()
  }

  private async run(claimed: Job, slot: Slot): Promise<void> {
    const { store, clock, leaseMs, workerId } = this.o
    const renew = setInterval(() => {
      store.renewLease(claimed.id, workerId, clock.now() + leaseMs).catch((err) => {
        this.o.logger.warn({ err, job_id: claimed.id }, 'lease renewal failed')
      })
    }, leaseMs / 3)
    try {
      const job = claimed.status === 'processing' ? await this.answer(claimed, slot) : claimed
      if (job?.status !== 'delivering') return
      if (slot.stage === 'done') {
        // Answered here: on to a callback slot, or, with none free, give the lease back for
        // the delivery stage to claim the job when one is.
        if (this.deliveryActive >= this.o.concurrency) {
          clearInterval(renew) // no renewal may land after the lease is given back
          await store.releaseLease(job.id, workerId, clock.now())
          return
        }
        this.enter(slot, 'delivery')
      }
      await this.deliver(job, slot)
    } catch (error) {
      // A store fault mid-pipeline: the lease runs out and the job is claimed again.
      this.o.logger.error({ err: error, job_id: claimed.id }, 'job pipeline failed; it will be retried')
    } finally {
      clearInterval(renew)
    }
  }

  private async answer(job: Job, slot: Slot): Promise<Job | undefined> {
    const { store, llm, clock, logger, workerId } = this.o
    const history = await store.readHistory(job.owner, job.conversationId, this.o.historyMaxMessages)
    const messages: ChatMessage[] = []
    if (job.systemPrompt !== '') messages.push({ role: 'system', content: job.systemPrompt })
    for (const m of history) messages.push({ role: m.role, content: m.content })
    messages.push({ role: 'user', content: job.message })
    const log = logger.child({
      job_id: job.id,
      conversation_id: job.conversationId,
      attempt: job.llmAttempts,
    })

    const started = clock.now()
    const result = await llm.complete({ model: job.model, messages })
    const now = clock.now()
    const seconds = (now - started) / 1000
    if (result.ok) {
      this.o.metrics.llmDuration.observe({ model: job.model, outcome: 'ok' }, seconds)
      const write = store.recordAnswer(
        job.id,
        workerId,
        { response: result.answer.content, model: result.answer.model, usage: result.answer.usage },
        now,
      )
      this.leave(slot)
      const answered = await write
      if (answered)
        log.info({ outcome: 'answered', model: result.answer.model, ms: now - started }, 'job answered')
      else log.warn({ outcome: 'lease_lost' }, 'lease lost during the LLM call; answer dropped')
      return answered
    }
    this.o.metrics.llmDuration.observe({ model: job.model, outcome: 'error' }, seconds)
    this.o.metrics.llmErrors.inc({ code: result.failure.code, model: job.model })
    const retryAt = await this.llmRetryAt(job, result.failure, now)
    const error = { code: result.failure.code, message: result.failure.message }
    if (retryAt !== undefined) {
      const write = store.recordLlmRetry(job.id, workerId, error, retryAt.at, retryAt.countAttempt, now)
      this.leave(slot)
      await write
      log.warn(
        { outcome: 'llm_retry', code: error.code, retry_at: new Date(retryAt.at).toISOString() },
        error.message,
      )
      return undefined
    }
    const write = store.recordLlmFailure(job.id, workerId, error, now)
    this.leave(slot)
    const failed = await write
    log.warn({ outcome: 'failed', code: error.code }, error.message)
    return failed
  }

  /** When to try the LLM again, or undefined to fail the job now. */
  private async llmRetryAt(
    job: Job,
    failure: LlmFailure,
    now: number,
  ): Promise<{ at: number; countAttempt: boolean } | undefined> {
    if (!failure.retryable) return undefined
    const schedule = this.o.llmRetrySchedule
    const serverWait = failure.retryAfterMs !== undefined ? now + failure.retryAfterMs : undefined
    const refill = failure.rateLimitResetAt
    // A quota that refills only after our retries would all be spent (the free tier's daily
    // limit): wait for it without burning attempts, and hold every other call too.
    if (refill !== undefined && refill - now > remainingWait(schedule, job.llmAttempts)) {
      await this.o.budget.pauseUntil(refill)
      return { at: refill, countAttempt: false }
    }
    const delay = retryDelayFor(schedule, job.llmAttempts)
    if (delay === undefined) return undefined
    const at = Math.max(now + delay, serverWait ?? 0, refill ?? 0)
    if (failure.code === 'llm_rate_limited' && at > now + delay) await this.o.budget.pauseUntil(at)
    return { at, countAttempt: true }
  }

  private async deliver(job: Job, slot: Slot): Promise<void> {
    const { store, deliverer, clock, workerId, logger } = this.o
    const started = clock.now()
    const result = await deliverer.deliver(job)
    const failures = job.deliveryFailures + (result.ok ? 0 : 1)
    let outcome: DeliveryOutcome
    if (result.ok) outcome = { status: 'delivered' }
    else {
      const delay = result.retryable ? retryDelayFor(this.o.callbackRetrySchedule, failures) : undefined
      outcome =
        delay === undefined ? { status: 'dead' } : { status: 'delivering', retryAt: clock.now() + delay }
    }
    const write = store.recordDeliveryAttempt(
      job.id,
      workerId,
      { at: started, statusCode: result.statusCode, error: result.error, durationMs: result.durationMs },
      outcome,
    )
    this.leave(slot)
    const recorded = await write
    const outcomeName = outcome.status === 'delivering' ? 'retry' : outcome.status
    this.o.metrics.deliveryAttempts.inc({ outcome: outcomeName })
    this.o.metrics.deliveryDuration.observe({ outcome: outcomeName }, result.durationMs / 1000)
    if (outcome.status !== 'delivering' && recorded)
      this.o.metrics.jobsFinished.inc({
        status: outcome.status,
        type: job.response === null ? 'failed' : 'completed',
      })
    logger.info(
      {
        job_id: job.id,
        conversation_id: job.conversationId,
        attempt: job.deliveryAttempts + 1,
        outcome: outcome.status,
        status_code: result.statusCode,
        code: result.error?.code,
        ms: result.durationMs,
        recorded,
      },
      result.ok ? 'callback delivered' : `callback failed: ${result.error?.message ?? ''}`,
    )
  }
}

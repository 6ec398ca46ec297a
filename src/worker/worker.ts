import type { Clock, Timer } from '../clock.ts'
import type { Deliverer } from '../delivery/deliverer.ts'
import type { OriginBreaker } from '../delivery/origin-breaker.ts'
import type { ClaimOffer } from '../intake/intake.ts'
import type { JobError } from '../job.ts'
import type { CallBudget } from '../limits/call-budget.ts'
import type { LlmClient } from '../llm/llm.ts'
import type { TokenCounter } from '../llm/token-count.ts'
import type { Logger } from '../log.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { Job, Store } from '../store/store.ts'
import type { Tracer } from '../telemetry/tracer.ts'
import { ClaimLoop } from './claim-loop.ts'
import type { ClientQuotas } from './client-quotas.ts'
import { DeliveryStage } from './delivery-stage.ts'
import { LlmStage } from './llm-stage.ts'
import { Pipeline } from './pipeline.ts'
import { type ActivePause, RateLimitPauses } from './rate-limit-pauses.ts'
import { type Pool, type Slot, SlotPools } from './slots.ts'
import { StoreWaits } from './stage-write.ts'
import type { ToolRoundLimits } from './tool-round.ts'

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
  /** HISTORY_MAX_TOKENS, counted with `tokens` (absent: no token limit). */
  historyMaxTokens: number
  tokens: TokenCounter | undefined
  llmRetrySchedule: readonly number[]
  callbackRetrySchedule: readonly number[]
  /** LLM_MAX_PAUSE: the longest a 429 may hold calls back at once. */
  llmMaxPauseMs: number
  /** MAX_RESPONSE_CHARS: a longer answer fails its job. */
  maxResponseChars: number
  /** MAX_TOOL_ROUNDS and TOOL_RESULTS_TIMEOUT. */
  toolRounds: ToolRoundLimits
  /** Takes secrets out of upstream text before it is logged, stored or sent. */
  scrub: (text: string) => string
  /** A job left the LLM stage here (answered, failed, or awaiting tool results). */
  onSettled?: (jobId: string) => void
  /** A span for each LLM and callback attempt (the no-op tracer while tracing is off). */
  tracer: Tracer
  /** LLM calls are rationed (LLM_MAX_RPM): clients take turns for them. */
  fairShare?: boolean
  /** Clients' own llm_rpm and daily_token_budget (absent: none). */
  quotas?: ClientQuotas
  /** The callback origins' breaker and in-flight cap (absent: every callback goes). */
  breaker?: OriginBreaker
  /** A job ended dead here. */
  onDead?: (job: Job, error: JobError | null) => void
}

/**
 * The worker: a claim loop that fills two pools of slots (LLM calls, callbacks) with claimed
 * jobs, and the pipeline each claimed job runs.
 */
export class Worker {
  private readonly inFlight = new Set<Promise<void>>()
  private readonly pools: SlotPools
  private readonly pauses = new RateLimitPauses()
  private readonly waits = new StoreWaits()
  private readonly pipeline: Pipeline
  private readonly loop: ClaimLoop

  constructor(private readonly o: WorkerOptions) {
    this.pools = new SlotPools(o.concurrency, () => this.wake())
    this.pipeline = new Pipeline({
      ...o,
      pools: this.pools,
      waits: this.waits,
      llmStage: new LlmStage({
        ...o,
        pauses: this.pauses,
        llmRetry: { schedule: o.llmRetrySchedule, maxPauseMs: o.llmMaxPauseMs },
      }),
      deliveryStage: new DeliveryStage(o),
    })
    this.loop = new ClaimLoop({
      ...o,
      pools: this.pools,
      holdClaims: () => this.waits.any,
      onClaimed: (job) => this.track(job),
    })
  }

  get activeJobs(): number {
    return this.inFlight.size
  }

  /** The rate-limit pauses in force, for /metrics. */
  activePauses(): ActivePause[] {
    return this.pauses.active(this.o.clock.now())
  }

  start(): void {
    this.loop.start()
  }

  wake(): void {
    this.loop.wake()
  }

  /**
   * The job was cancelled (by a request to this process): a run here stops at once, instead of
   * at its next lease check.
   */
  jobCancelled(jobId: string): void {
    this.pipeline.cancel(jobId)
  }

  /**
   * A slot for the job being accepted (claim at accept), when one is free now and the call
   * budget grants a call without asking a shared store; undefined while the worker is not
   * claiming (stopped, or stage writes wait for the store). A job that comes leased runs from
   * its commit on (on SQLite its LLM call goes out while the WAL syncs), with no claim
   * transaction and no wake-up between; once it runs, the run holds the slot and the accept's
   * outcome no longer frees it.
   */
  offerClaim(): ClaimOffer | undefined {
    const { clock, budget, workerId, leaseMs } = this.o
    if (!this.loop.claiming || this.waits.any || this.pools.llmFree <= 0) return undefined
    const now = clock.now()
    if (budget.takeAtOnce?.(now) !== true) return undefined
    const slot: Slot = { pool: undefined }
    this.pools.enter(slot, 'llm')
    // Once a run has the slot, the run lets it go; the accept's own outcome no longer does.
    let taken = false
    const decline = () => {
      if (taken) return
      taken = true
      this.pools.cancel(slot)
      void budget.giveBack(1, now).catch(() => {})
      this.loop.wakeIfStarved()
    }
    const accepted = (job: Job) => {
      if (taken) return
      if (job.status === 'processing' && this.loop.claiming) {
        taken = true
        this.o.logger.debug(
          {
            job_id: job.id,
            conversation_id: job.conversationId,
            stage: 'llm',
            attempt: 1,
            outcome: 'claimed',
          },
          'job claimed at accept',
        )
        this.run(job, slot)
      } else if (job.status === 'processing') {
        // Stopped meanwhile: the lease goes back for the next worker to take.
        decline()
        void this.o.store.releaseLease(job.id, workerId, clock.now()).catch(() => {})
      } else decline()
    }
    return {
      workerId,
      leaseMs,
      // A job that came queued waits for its accept's outcome: nothing to start yet.
      committed: (job) => {
        if (job.status === 'processing') accepted(job)
      },
      accepted,
      declined: decline,
    }
  }

  /** Stops claiming, lets running jobs finish for up to `timeoutMs`, then gives back the leases left. */
  async stop(timeoutMs: number): Promise<void> {
    // A claim still in flight hands its jobs over first, so they are waited for (or released) too.
    await this.loop.stop()
    // Jobs claimed but still waiting for a slot start no LLM call now: their leases go back.
    this.pools.release()
    let timeout: Timer | undefined
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => {
        timeout = this.o.clock.setTimeout(() => resolve(undefined), timeoutMs)
      }),
    ])
    timeout?.cancel()
    const released = await this.o.store.releaseLeases(this.o.workerId, this.o.clock.now())
    if (released > 0) this.o.logger.info({ released }, 'released leases of unfinished jobs')
  }

  private track(job: Job): boolean {
    // Claimed again while a run here holds it: its lease ran out while the store was away. That
    // run keeps the job (and its answer); a second would ask the LLM again.
    if (this.pipeline.holds(job)) return false
    // The job.tool_calls event of an awaiting job is a callback like any other.
    const stage = job.status === 'processing' ? 'llm' : 'delivery'
    this.o.logger.debug(
      {
        job_id: job.id,
        conversation_id: job.conversationId,
        stage,
        attempt: stage === 'llm' ? job.llmAttempts : job.deliveryAttempts + 1,
        outcome: 'claimed',
      },
      'job claimed',
    )
    const slot: Slot = { pool: undefined }
    // The claim counted the slots free as it began; a claim at accept (or a run moving on to
    // its callback) may have taken this one while the store answered. The job then waits for
    // the next slot to free, its lease held, rather than run beyond WORKER_CONCURRENCY.
    if ((stage === 'llm' ? this.pools.llmFree : this.pools.deliveryFree) > 0) {
      this.pools.enter(slot, stage)
      this.run(job, slot)
    } else {
      this.o.logger.debug({ job_id: job.id, stage }, 'claimed job waits for a slot')
      this.run(job, slot, stage)
    }
    return true
  }

  private run(job: Job, slot: Slot, waitFor?: Pool): void {
    const run = this.pipeline.run(job, slot, waitFor).finally(() => {
      this.pools.leave(slot)
      this.inFlight.delete(run)
      this.wake()
    })
    this.inFlight.add(run)
  }
}

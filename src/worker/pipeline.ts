import type { Clock } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { Job, Store } from '../store/store.ts'
import type { DeliveryStage } from './delivery-stage.ts'
import { HeldLease } from './held-lease.ts'
import { JobRun } from './job-run.ts'
import type { LlmStage } from './llm-stage.ts'
import type { Pool, Slot, SlotPools } from './slots.ts'
import type { StoreWaits } from './stage-write.ts'

export interface PipelineOptions {
  store: Store
  clock: Clock
  logger: Logger
  pools: SlotPools
  waits: StoreWaits
  workerId: string
  leaseMs: number
  llmStage: LlmStage
  deliveryStage: DeliveryStage
}

/**
 * A claimed job's stages: LLM call → stored answer (or tool calls, retry, failure) → callback
 * attempt (the answer's, the failure's, or the tool calls' event),
 * each stage ended by one store transaction, under a lease renewed while the job runs.
 */
export class Pipeline {
  /**
   * The jobs whose lease a run here holds, each with its run: a claim of one of them (its lease
   * ran out while the store was away) must not start a second run, which would ask the LLM again.
   */
  private readonly holding = new Map<string, JobRun>()

  constructor(private readonly o: PipelineOptions) {}

  /**
   * Whether a run here holds the job's lease for the stage it was claimed for. A run sending a
   * `job.tool_calls` event does not hold the job's next stage: the results may come (and queue
   * the job, or its timeout fail it) before the receiver has answered the event.
   */
  holds(job: Job): boolean {
    const run = this.holding.get(job.id)
    return run !== undefined && !(run.sendingToolCalls && job.status !== 'awaiting_tool_results')
  }

  /** `waitFor`: the job's slot is not taken yet; it waits for one of that pool, its lease held. */
  async run(claimed: Job, slot: Slot, waitFor?: Pool): Promise<void> {
    const { store, clock, logger, workerId, leaseMs, pools, waits } = this.o
    // A lease found lost stops the run: its writes would be refused, so its LLM call is wasted.
    const lease = new HeldLease({
      store,
      clock,
      logger,
      jobId: claimed.id,
      workerId,
      leaseMs,
      onLost: () => run.stop(),
    })
    const run = new JobRun(claimed.id, slot, lease, { clock, pools, waits, letGo: (r) => this.letGo(r) })
    this.holding.set(claimed.id, run)
    try {
      // No slot came: the job was cancelled, or is another worker's, or this worker stops and
      // gives back every lease it holds (Worker.stop). Nothing was started for it.
      if (waitFor !== undefined && !(await pools.enterOrWait(slot, waitFor, run.signal))) return
      const job = claimed.status === 'processing' ? await this.o.llmStage.answer(claimed, run) : claimed
      // Cancelled (or another's) by now: no callback is started for it.
      if (job?.status !== 'delivering' && job?.status !== 'awaiting_tool_results') return
      if (run.signal.aborted) return
      run.sendingToolCalls = job.status === 'awaiting_tool_results'
      if (slot.pool === undefined) {
        // Answered here: on to a callback slot, or, with none free, give the lease back for
        // the delivery stage to claim the job when one is.
        if (pools.deliveryFree === 0) {
          run.letGo()
          await store.releaseLease(job.id, workerId, clock.now())
          return
        }
        pools.enter(slot, 'delivery')
      }
      await this.o.deliveryStage.deliver(job, run)
    } catch (error) {
      // A store fault mid-pipeline: the lease runs out and the job is claimed again.
      logger.error({ err: error, job_id: claimed.id }, 'job pipeline failed; it will be retried')
    } finally {
      run.letGo()
    }
  }

  /** The job was cancelled: a run here stops its LLM call and starts no callback. */
  cancel(jobId: string): void {
    this.holding.get(jobId)?.stop()
  }

  private letGo(run: JobRun): void {
    if (this.holding.get(run.jobId) === run) this.holding.delete(run.jobId)
  }
}

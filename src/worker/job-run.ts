import type { Clock } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { HeldLease } from './held-lease.ts'
import type { Slot, SlotPools } from './slots.ts'
import { type StageWrite, type StoreWaits, type WriteUntil, writeWhileLeased } from './stage-write.ts'

/** One run of a claimed job through its stages: its slot, its lease, and how each stage ends. */
export class JobRun {
  private readonly stopper = new AbortController()
  /** Set while the run delivers a `job.tool_calls` event. */
  sendingToolCalls = false

  constructor(
    readonly jobId: string,
    readonly slot: Slot,
    readonly lease: HeldLease,
    private readonly o: {
      clock: Clock
      pools: SlotPools
      waits: StoreWaits
      /** From then on a claim of the job starts a run of its own. */
      letGo: (run: JobRun) => void
    },
  ) {}

  /**
   * Queues a stage's last write, frees the slot as it is queued (the next claim shares its
   * commit), and sees it land. A write that gives the job up lets it go first, so a claim
   * that follows the write starts the job's next run.
   */
  finishStage<T>(
    until: WriteUntil,
    log: Logger,
    what: string,
    write: () => Promise<T>,
  ): Promise<StageWrite<T>> {
    if (until === 'lease runs out') this.o.letGo(this)
    const { clock, waits } = this.o
    const written = writeWhileLeased(write, { lease: this.lease, until, clock, log, waits, what })
    this.o.pools.leave(this.slot)
    return written
  }

  /** Aborted once the job is no longer this run's to work on: cancelled, or claimed by another worker. */
  get signal(): AbortSignal {
    return this.stopper.signal
  }

  /** Stops the work in flight (the LLM call); whatever it brings back is not written. */
  stop(): void {
    this.stopper.abort()
  }

  /** Gives the lease back: no renewal may land after it. */
  letGo(): void {
    this.lease.end()
    this.o.letGo(this)
  }
}

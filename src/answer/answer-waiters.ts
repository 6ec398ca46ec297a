import type { Clock, Timer } from '../clock.ts'

/**
 * The clients waiting for an answer under `Prefer: wait`. A waiter is a promise in a map:
 * it holds no worker slot and no database connection while it waits. The pipeline of this
 * process calls `settled(jobId)` as a job leaves the LLM stage; another process on the same
 * database (a fleet, or an api and a worker process on one SQLite file) may answer it
 * instead, so while anyone waits, one timer per process asks the store which of the waited
 * jobs are settled, all of them in one query (`check`, Store.settledAmong).
 *
 * Not a NOTIFY per answered job: that takes PostgreSQL's commit-time notification lock in every
 * answer transaction, waited on or not, and sends every answer to every instance
 * (docs/benchmarks.md, "Prefer: wait").
 */
export interface SettledCheck {
  /** Of `jobIds`, those whose LLM stage has ended for now (answered, failed, awaiting tool results, cancelled). */
  check(jobIds: readonly string[]): Promise<readonly string[]>
  intervalMs: number
}

interface Waiter {
  resolve(answered: boolean): void
  timer: Timer
  signal: AbortSignal | undefined
  onAbort: () => void
}

export class AnswerWaiters {
  private readonly waiters = new Map<string, Set<Waiter>>()
  private poll: Timer | undefined
  private polling = false
  private closed = false

  constructor(
    private readonly clock: Clock,
    private readonly others?: SettledCheck,
  ) {}

  /** How many requests are waiting now. */
  get waiting(): number {
    let n = 0
    for (const set of this.waiters.values()) n += set.size
    return n
  }

  /**
   * True once the job is settled; false when `ms` pass first, when `signal` aborts (the
   * client went away), or once the relay stops.
   */
  wait(jobId: string, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || signal?.aborted) return Promise.resolve(false)
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        signal,
        onAbort: () => this.finish(jobId, waiter, false),
        timer: this.clock.setTimeout(() => this.finish(jobId, waiter, false), ms),
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      let set = this.waiters.get(jobId)
      if (set === undefined) {
        set = new Set()
        this.waiters.set(jobId, set)
      }
      set.add(waiter)
      if (this.others && this.poll === undefined)
        this.poll = this.clock.setInterval(() => void this.checkOthers(), this.others.intervalMs)
    })
  }

  /** The job left the LLM stage: everyone waiting for it gets its answer now. */
  settled(jobId: string): void {
    for (const waiter of this.waiters.get(jobId) ?? []) this.finish(jobId, waiter, true)
  }

  /** Shutdown: every waiter gets its 202 at once, and so does any that comes later. */
  releaseAll(): void {
    this.closed = true
    for (const [jobId, set] of this.waiters) for (const waiter of set) this.finish(jobId, waiter, false)
  }

  private finish(jobId: string, waiter: Waiter, answered: boolean): void {
    const set = this.waiters.get(jobId)
    if (!set?.delete(waiter)) return
    waiter.timer.cancel()
    waiter.signal?.removeEventListener('abort', waiter.onAbort)
    waiter.resolve(answered)
    if (set.size === 0) this.waiters.delete(jobId)
    if (this.waiters.size === 0) {
      this.poll?.cancel()
      this.poll = undefined
    }
  }

  private async checkOthers(): Promise<void> {
    if (this.polling || this.others === undefined || this.waiters.size === 0) return
    this.polling = true
    try {
      for (const jobId of await this.others.check([...this.waiters.keys()])) this.settled(jobId)
    } catch {
      // The store is away: the waiters time out into their 202, which is still true.
    } finally {
      this.polling = false
    }
  }
}

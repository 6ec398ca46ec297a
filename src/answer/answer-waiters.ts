import type { Clock, Timer } from '../clock.ts'

/**
 * The clients waiting for an answer under `Prefer: wait`. A waiter is a promise in a map:
 * it holds no worker slot and no database connection while it waits. The pipeline of this
 * process calls `settled(jobId)` as a job leaves the LLM stage; in a fleet the job may be
 * answered by another instance, so while anyone waits, one timer per process asks the store
 * which of the waited jobs are settled, all of them in one query (`check`).
 */
export interface WaitedJob {
  id: string
  owner: string
}

export interface SettledCheck {
  /** Of `jobs`, the ids of those whose LLM stage has ended (answered or failed). */
  check(jobs: readonly WaitedJob[]): Promise<readonly string[]>
  intervalMs: number
}

interface Waiter {
  resolve(answered: boolean): void
  timer: Timer
  owner: string
}

export class AnswerWaiters {
  private readonly waiters = new Map<string, Set<Waiter>>()
  private poll: Timer | undefined
  private polling = false

  constructor(
    private readonly clock: Clock,
    private readonly fleet?: SettledCheck,
  ) {}

  /** How many requests are waiting now. */
  get waiting(): number {
    let n = 0
    for (const set of this.waiters.values()) n += set.size
    return n
  }

  /** True once the job is settled, false when `ms` pass first. */
  wait(job: WaitedJob, ms: number): Promise<boolean> {
    const jobId = job.id
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        owner: job.owner,
        timer: this.clock.setTimeout(() => this.finish(jobId, waiter, false), ms),
      }
      let set = this.waiters.get(jobId)
      if (set === undefined) {
        set = new Set()
        this.waiters.set(jobId, set)
      }
      set.add(waiter)
      if (this.fleet && this.poll === undefined)
        this.poll = this.clock.setInterval(() => void this.checkFleet(), this.fleet.intervalMs)
    })
  }

  /** The job left the LLM stage: everyone waiting for it gets its answer now. */
  settled(jobId: string): void {
    for (const waiter of this.waiters.get(jobId) ?? []) this.finish(jobId, waiter, true)
  }

  /** Shutdown: every waiter gets its 202 at once. */
  releaseAll(): void {
    for (const [jobId, set] of this.waiters) for (const waiter of set) this.finish(jobId, waiter, false)
  }

  private finish(jobId: string, waiter: Waiter, answered: boolean): void {
    const set = this.waiters.get(jobId)
    if (!set?.delete(waiter)) return
    waiter.timer.cancel()
    waiter.resolve(answered)
    if (set.size === 0) this.waiters.delete(jobId)
    if (this.waiters.size === 0) {
      this.poll?.cancel()
      this.poll = undefined
    }
  }

  private async checkFleet(): Promise<void> {
    if (this.polling || this.fleet === undefined || this.waiters.size === 0) return
    this.polling = true
    try {
      const jobs = [...this.waiters].map(([id, set]) => ({ id, owner: [...set][0]?.owner ?? '' }))
      for (const jobId of await this.fleet.check(jobs)) this.settled(jobId)
    } catch {
      // The store is away: the waiters time out into their 202, which is still true.
    } finally {
      this.polling = false
    }
  }
}

/**
 * LLM_MAX_RPM: at most `perMinute` LLM calls start in any 60 s window, so a free-tier key waits
 * in the queue instead of collecting 429s. A quota hit pauses every call until it refills. The
 * budget is the port; the local one serves one instance, Redis and PostgreSQL ones a fleet.
 */
export interface CallBudget {
  /** Takes up to `want` call slots now; returns how many were granted. */
  take(want: number, now: number): Promise<number>
  /** Gives back slots taken but not used (fewer jobs were due than slots taken). */
  giveBack(count: number, now: number): Promise<void>
  /** When a slot frees, if none is free now; undefined when one is (or there is no limit). */
  nextSlotAt(now: number): Promise<number | undefined>
  /** Holds every call until `at` (a daily quota ran out). */
  pauseUntil(at: number): Promise<void>
  /**
   * One call now, answered without waiting: only a budget kept in this process's memory, and
   * without a per-minute limit, says yes. Absent on the shared ones (a round trip to Redis or
   * PostgreSQL); the claim at accept is then not offered and the claim loop takes the job.
   */
  takeAtOnce?(now: number): boolean
}

export const WINDOW_MS = 60_000

/** One process's budget: a sliding log of call start times. */
export class LocalCallBudget implements CallBudget {
  private readonly starts: number[] = []
  private pausedUntil = 0

  constructor(private readonly perMinute: number) {}

  async take(want: number, now: number): Promise<number> {
    return this.grant(want, now)
  }

  /**
   * Only without a per-minute limit: while calls are rationed, the claim loop hands them out
   * (in turns between clients), and a job accepted meanwhile waits its turn in the queue.
   */
  takeAtOnce(now: number): boolean {
    return this.perMinute <= 0 && now >= this.pausedUntil
  }

  private grant(want: number, now: number): number {
    if (now < this.pausedUntil) return 0
    if (this.perMinute <= 0) return want
    this.forget(now)
    const granted = Math.max(0, Math.min(want, this.perMinute - this.starts.length))
    for (let i = 0; i < granted; i++) this.starts.push(now)
    return granted
  }

  async giveBack(count: number): Promise<void> {
    if (this.perMinute > 0) this.starts.splice(Math.max(0, this.starts.length - count), count)
  }

  async nextSlotAt(now: number): Promise<number | undefined> {
    if (now < this.pausedUntil) return this.pausedUntil
    if (this.perMinute <= 0) return undefined
    this.forget(now)
    if (this.starts.length < this.perMinute) return undefined
    return (this.starts[0] ?? now) + WINDOW_MS
  }

  async pauseUntil(at: number): Promise<void> {
    this.pausedUntil = Math.max(this.pausedUntil, at)
  }

  private forget(now: number): void {
    while (this.starts.length > 0 && (this.starts[0] ?? 0) <= now - WINDOW_MS) this.starts.shift()
  }
}

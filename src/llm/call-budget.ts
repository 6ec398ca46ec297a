/**
 * LLM_MAX_RPM: at most `perMinute` calls start in any 60 s window, so a free-tier key waits in
 * the queue instead of collecting 429s. A daily quota hit pauses every call until it refills.
 */
export class CallBudget {
  private readonly starts: number[] = []
  private pausedUntil = 0

  constructor(private readonly perMinute: number) {}

  /** How many calls may start now. */
  available(now: number): number {
    if (now < this.pausedUntil) return 0
    if (this.perMinute <= 0) return Number.POSITIVE_INFINITY
    this.forget(now)
    return Math.max(0, this.perMinute - this.starts.length)
  }

  take(now: number): void {
    if (this.perMinute > 0) this.starts.push(now)
  }

  /** When the next call may start, if none may start now. */
  nextSlotAt(now: number): number | undefined {
    if (now < this.pausedUntil) return this.pausedUntil
    if (this.perMinute <= 0) return undefined
    this.forget(now)
    if (this.starts.length < this.perMinute) return undefined
    return (this.starts[0] ?? now) + 60_000
  }

  pauseUntil(at: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, at)
  }

  private forget(now: number): void {
    while (this.starts.length > 0 && (this.starts[0] ?? 0) <= now - 60_000) this.starts.shift()
  }
}

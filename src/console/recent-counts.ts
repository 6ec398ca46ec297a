import type { Clock, Timer } from '../clock.ts'
import type { RelayMetrics } from '../metrics.ts'

/** This process's counters at one moment. */
interface Sample {
  at: number
  accepted: number
  delivered: number
  retries: number
  dead: number
  llmErrors: Map<string, number>
}

export interface RecentTotals {
  /** Where the window starts: an hour back, or when the oldest sample still kept was taken. */
  since: number
  accepted: number
  delivered: number
  retries: number
  dead: number
  llmErrors: Map<string, number>
}

/**
 * "The last hour" from the Prometheus counters, which only ever rise: a sample every minute,
 * an hour of them kept, and the difference between now and the oldest. Costs nothing per job
 * and no query; the figures are this process's (each instance of a fleet counts its own).
 */
export class RecentCounts {
  private readonly samples: Sample[] = []
  private timer: Timer | undefined

  constructor(
    private readonly metrics: RelayMetrics,
    private readonly clock: Clock,
    private readonly windowMs = 3_600_000,
    private readonly stepMs = 60_000,
  ) {
    this.samples.push(this.sample())
  }

  start(): void {
    this.timer ??= this.clock.setInterval(() => this.record(), this.stepMs)
  }

  stop(): void {
    this.timer?.cancel()
    this.timer = undefined
  }

  read(): RecentTotals {
    const now = this.sample()
    this.forget(now.at)
    const base = this.samples[0] ?? now
    const llmErrors = new Map<string, number>()
    for (const [code, n] of now.llmErrors) {
      const diff = n - (base.llmErrors.get(code) ?? 0)
      if (diff > 0) llmErrors.set(code, diff)
    }
    return {
      since: base.at,
      accepted: now.accepted - base.accepted,
      delivered: now.delivered - base.delivered,
      retries: now.retries - base.retries,
      dead: now.dead - base.dead,
      llmErrors,
    }
  }

  private record(): void {
    const s = this.sample()
    this.samples.push(s)
    this.forget(s.at)
  }

  /** Drops samples from before the window, always keeping one to count from. */
  private forget(now: number): void {
    while (this.samples.length > 1 && (this.samples[0] as Sample).at < now - this.windowMs)
      this.samples.shift()
  }

  private sample(): Sample {
    const m = this.metrics
    return {
      at: this.clock.now(),
      accepted: m.jobsAccepted.total(),
      delivered: m.jobsFinished.total({ status: 'delivered' }),
      retries: m.deliveryAttempts.total({ outcome: 'retry' }),
      dead: m.jobsFinished.total({ status: 'dead' }),
      llmErrors: m.llmErrors.totalsBy('code'),
    }
  }
}

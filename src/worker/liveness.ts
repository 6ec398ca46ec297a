import type { Clock, Timer } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { Store } from '../store/store.ts'

/** How often a worker tells the store it is alive and looks for workers that died. */
export const HEARTBEAT_EVERY_MS = 2000
/**
 * How long a PostgreSQL instance may stay silent before its leases are released: four
 * missed heartbeats, so a slow event loop or a short network stall is not taken for death.
 */
export const SILENT_FOR_MS = 8000

export interface LivenessOptions {
  store: Store
  clock: Clock
  logger: Logger
  workerId: string
  /** Jobs became claimable: the worker should look at once. */
  onRecovered: () => void
}

/**
 * Keeps a crashed worker's jobs from waiting out JOB_LEASE: this worker heartbeats, and
 * releases the leases of workers known to be dead (Store.recoverAbandonedLeases). `start()`
 * does one round before the worker claims anything, so the jobs a crash left behind are the
 * first taken.
 */
export class Liveness {
  private timer: Timer | undefined
  private beating: Promise<void> | undefined
  private beats = 0
  private failing = false

  constructor(private readonly o: LivenessOptions) {}

  async start(): Promise<void> {
    await this.beat()
    this.timer = this.o.clock.setInterval(() => void this.beat(), HEARTBEAT_EVERY_MS)
  }

  /** No more rounds; resolves when the one in progress is done, so the store can close under it. */
  async stop(): Promise<void> {
    this.timer?.cancel()
    this.timer = undefined
    await this.beating
  }

  /** Resolves when the round in progress, if any, is done. */
  async settled(): Promise<void> {
    await this.beating
  }

  private beat(): Promise<void> {
    // A round slower than the interval is not doubled up.
    this.beating ??= this.round().finally(() => {
      this.beating = undefined
    })
    return this.beating
  }

  private async round(): Promise<void> {
    try {
      const { store, clock, workerId } = this.o
      const known = await store.heartbeat(workerId, clock.now(), SILENT_FOR_MS)
      if (!known && this.beats > 0)
        this.o.logger.warn(
          { worker_id: workerId },
          'this worker was silent long enough to be presumed dead: its leases were released, and its running jobs may be taken by others',
        )
      this.beats++
      if (this.failing) this.o.logger.info('heartbeat works again')
      this.failing = false
      const recovered = await store.recoverAbandonedLeases(workerId, clock.now(), SILENT_FOR_MS)
      if (recovered > 0) {
        this.o.logger.info({ recovered }, 'released the leases of a worker that died')
        this.o.onRecovered()
      }
    } catch (err) {
      // Once per outage: the store's own errors say the rest.
      if (!this.failing) this.o.logger.warn({ err }, 'heartbeat failed; trying again every 2 s')
      this.failing = true
    }
  }
}

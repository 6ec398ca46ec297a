import type { Clock, Timer } from '../clock.ts'
import type { CallBudget } from '../limits/call-budget.ts'
import type { Logger } from '../log.ts'
import type { Job, Store } from '../store/store.ts'
import { OwnerTurns } from './owner-turns.ts'
import type { SlotPools } from './slots.ts'

export interface ClaimLoopOptions {
  store: Store
  budget: CallBudget
  clock: Clock
  logger: Logger
  pools: SlotPools
  workerId: string
  leaseMs: number
  /** TOOL_RESULTS_TIMEOUT, for the error of a job whose results did not come. */
  toolRounds: { resultsTimeoutMs: number }
  /** True while claims must wait (stage writes wait for the store to come back). */
  holdClaims(): boolean
  /** Starts a claimed job; false when this process is working on it already (nothing started). */
  onClaimed(job: Job): boolean
  /** LLM calls are rationed (LLM_MAX_RPM): clients with due jobs take turns for them. */
  fairShare?: boolean
}

/** Longest the loop sleeps with nothing due: a safety net for a missed wake-up. */
const IDLE_WAKE_MS = 30_000
/** After a failed claim (the store is away), the next try. */
const CLAIM_RETRY_MS = 1000

/**
 * The claim loop. `wake()` runs it at once (a job was accepted, a slot freed); a timer on the
 * clock runs it when the next retry, lease expiry, tool-results deadline or call-budget slot is
 * due. Each run first fails the jobs whose tool results are overdue, then claims round after
 * round as many jobs as the pools have free slots (and the call budget allows LLM calls).
 */
export class ClaimLoop {
  private running = false
  private pumping = false
  private again = false
  private timer: Timer | undefined
  /** The round in progress, so a stop can wait for the jobs it is claiming. */
  private round: Promise<void> = Promise.resolve()
  private readonly turns = new OwnerTurns()

  constructor(private readonly o: ClaimLoopOptions) {}

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
    this.round = this.pump()
  }

  /** Claims nothing more; resolves once the round in progress has handed over what it claimed. */
  stop(): Promise<void> {
    this.running = false
    this.timer?.cancel()
    return this.round
  }

  private async pump(): Promise<void> {
    let retryIn: number | undefined
    try {
      if (this.o.holdClaims()) retryIn = CLAIM_RETRY_MS
      else await this.claimWhileFree()
    } catch (error) {
      this.o.logger.error({ err: error }, 'claiming jobs failed; trying again shortly')
      retryIn = CLAIM_RETRY_MS
    } finally {
      this.pumping = false
    }
    await this.schedule(retryIn)
  }

  /** The jobs whose tool results did not come in time fail (their job.failed is then claimed like any callback). */
  private async expireToolResults(): Promise<void> {
    const { resultsTimeoutMs } = this.o.toolRounds
    const expired = await this.o.store.expireToolResults(this.o.clock.now(), {
      code: 'tool_results_timeout',
      message: `No tool results came within TOOL_RESULTS_TIMEOUT (${Math.round(resultsTimeoutMs / 1000)} s).`,
    })
    if (expired > 0) this.o.logger.warn({ expired, outcome: 'failed' }, 'tool results did not come in time')
  }

  /** Claims round after round while every free slot found a job (more may be due). */
  private async claimWhileFree(): Promise<void> {
    const { store, budget, clock, pools } = this.o
    await this.expireToolResults()
    do {
      this.again = false
      const llmFree = pools.llmFree
      const deliveryFree = pools.deliveryFree
      const now = clock.now()
      // Slots are taken before the claim and the unused ones given back, so two instances
      // sharing one budget never start more calls than it allows.
      const slots = llmFree > 0 ? await budget.take(llmFree, now) : 0
      const wanted = slots + deliveryFree
      if (wanted === 0) return
      // Only while calls are rationed: one read of the owners with due jobs per granted slot batch.
      const owners = this.o.fairShare && slots > 0 ? await store.dueLlmOwners(now) : []
      const jobs = await store.claimJobs({
        workerId: this.o.workerId,
        now,
        leaseMs: this.o.leaseMs,
        limit: wanted,
        llmLimit: slots,
        deliveryLimit: deliveryFree,
        ...(owners.length > 1 && { llmOwners: this.turns.order(owners).slice(0, slots) }),
      })
      const calls = jobs.filter((job) => {
        const started = this.o.onClaimed(job) && job.status === 'processing'
        if (started) this.turns.serve(job.owner)
        return started
      }).length
      if (calls < slots) await budget.giveBack(slots - calls, now)
      if (jobs.length === wanted) this.again = true
    } while (this.again && this.running)
  }

  private async schedule(retryIn: number | undefined): Promise<void> {
    if (!this.running) return
    const { store, budget, clock } = this.o
    const now = clock.now()
    let at = now + (retryIn ?? IDLE_WAKE_MS)
    try {
      const due = await store.nextWakeAt(now)
      if (due !== undefined) at = Math.min(at, due)
    } catch {
      // The claim path logs store faults; the fallback timer stands.
    }
    const slot = await budget.nextSlotAt(now).catch(() => undefined)
    if (slot !== undefined) at = Math.min(at, Math.max(slot, now + 1))
    this.timer?.cancel()
    if (this.running) this.timer = clock.setTimeout(() => this.wake(), at - clock.now())
  }
}

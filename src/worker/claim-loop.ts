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
  /** LLM calls are rationed (LLM_MAX_RPM): clients with due jobs take turns for them. */
  fairShare?: boolean
  /** TOOL_RESULTS_TIMEOUT, for the error of a job whose results did not come. */
  toolRounds: { resultsTimeoutMs: number }
  /** True while claims must wait (stage writes wait for the store to come back). */
  holdClaims(): boolean
  /** Starts a claimed job; false when this process is working on it already (nothing started). */
  onClaimed(job: Job): boolean
}

/** Longest the loop sleeps with nothing due: a safety net for a missed wake-up. */
const IDLE_WAKE_MS = 30_000
/** After a failed claim (the store is away), the next try. */
const CLAIM_RETRY_MS = 1000

/**
 * The claim loop. `wake()` runs it at once (a job was accepted, a slot freed); a timer on the
 * clock runs it when the next retry, lease expiry, tool-results deadline or call-budget slot is
 * due. Each round fails the jobs whose tool results are overdue and claims as many jobs as the
 * pools have free slots (and the call budget allows LLM calls), while more may be due.
 */
export class ClaimLoop {
  private running = false
  private pumping = false
  private again = false
  /** The last round ran out of free LLM slots (not of call budget) before it ran out of due jobs. */
  private starved = false
  private timer: Timer | undefined
  private readonly turns = new OwnerTurns()
  /** Numbers each scheduling, so one that read the store before a later one cannot replace its timer. */
  private schedules = 0
  /** The time the run's last claim looked at: what became due after it needs a timer, however soon. */
  private claimedAt: number | undefined
  /** The round in progress, so a stop can wait for the jobs it is claiming. */
  private round: Promise<void> = Promise.resolve()

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

  get claiming(): boolean {
    return this.running
  }

  /** A slot came free that no round counted on: claim with it if the last round left jobs due. */
  wakeIfStarved(): void {
    if (this.starved) this.wake()
  }

  /** Claims nothing more; resolves once the round in progress has handed over what it claimed. */
  stop(): Promise<void> {
    this.running = false
    this.timer?.cancel()
    return this.round
  }

  private async pump(): Promise<void> {
    let retryIn: number | undefined
    this.claimedAt = undefined
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

  /**
   * The jobs whose tool results did not come in time fail (their job.failed is then claimed like
   * any callback); how many. A store fault leaves them to the next run.
   */
  private async expireToolResults(): Promise<number> {
    const { resultsTimeoutMs } = this.o.toolRounds
    try {
      const expired = await this.o.store.expireToolResults(this.o.clock.now(), {
        code: 'tool_results_timeout',
        message: `No tool results came within TOOL_RESULTS_TIMEOUT (${Math.round(resultsTimeoutMs / 1000)} s).`,
      })
      if (expired > 0) this.o.logger.warn({ expired, outcome: 'failed' }, 'tool results did not come in time')
      return expired
    } catch (error) {
      // The claim that runs beside it meets the same fault and says so.
      this.o.logger.debug({ err: error }, 'overdue tool results could not be checked')
      return 0
    }
  }

  /**
   * Round after round while every free slot found a job (more may be due) or a wake-up came:
   * each round fails the overdue tool results and claims. The sweep is not awaited before the
   * claim: on SQLite the claim then shares the group commit of the stage write that freed its
   * slot, instead of waiting for that commit first.
   */
  private async claimWhileFree(): Promise<void> {
    do {
      this.again = false
      const expiring = this.expireToolResults()
      const claimed = await this.claimOnce()
      // Jobs that just failed are due for their job.failed: the next round takes them.
      if ((await expiring) > 0 || claimed === 'every slot') this.again = true
      else if (claimed === 'no slot') return
    } while (this.again && this.running)
  }

  /** One claim for the free slots: whether every one of them found a job. */
  private async claimOnce(): Promise<'every slot' | 'some' | 'no slot'> {
    const { store, budget, clock, pools } = this.o
    const llmFree = pools.llmFree
    const deliveryFree = pools.deliveryFree
    const now = clock.now()
    this.claimedAt = now
    // Slots are taken before the claim and the unused ones given back, so two instances
    // sharing one budget never start more calls than it allows.
    const slots = llmFree > 0 ? await budget.take(llmFree, now) : 0
    const wanted = slots + deliveryFree
    // Out of LLM slots (not of call budget, whose next slot the timer waits for): due jobs may
    // be left that only a freed LLM slot can take.
    this.starved = slots === llmFree
    if (wanted === 0) return 'no slot'
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
    let calls = 0
    let forLlm = 0
    for (const job of jobs) {
      if (job.status === 'processing') forLlm++
      if (this.o.onClaimed(job) && job.status === 'processing') {
        calls++
        this.turns.serve(job.owner)
      }
    }
    if (calls < slots) await budget.giveBack(slots - calls, now)
    // Every LLM slot it counted found a job: more may be due.
    this.starved = slots === llmFree && forLlm >= slots
    return jobs.length === wanted ? 'every slot' : 'some'
  }

  private async schedule(retryIn: number | undefined): Promise<void> {
    if (!this.running) return
    const mine = ++this.schedules
    const { store, budget, clock } = this.o
    const now = clock.now()
    let at = now + (retryIn ?? IDLE_WAKE_MS)
    // Due since the last claim (a retry written as the time moved on) counts, even if due by
    // now: its timer fires at once. After a failed or held claim only the future does, so a
    // store that is away is not asked in a tight loop.
    const since = retryIn === undefined ? (this.claimedAt ?? now) : now
    try {
      const due = await store.nextWakeAt(since)
      if (due !== undefined) at = Math.min(at, due)
    } catch {
      // The claim path logs store faults; the fallback timer stands.
    }
    const slot = await budget.nextSlotAt(now).catch(() => undefined)
    if (slot !== undefined) at = Math.min(at, Math.max(slot, now + 1))
    // A run that started while this one read the store (a wake-up) scheduled after it, from a
    // later read: its timer stands. This one's could be 30 s away from a retry just written.
    if (mine !== this.schedules) return
    this.timer?.cancel()
    if (this.running) this.timer = clock.setTimeout(() => this.wake(), at - clock.now())
  }
}

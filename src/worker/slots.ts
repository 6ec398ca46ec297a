/**
 * Which pool a running job holds a slot in. LLM calls and callbacks have a pool each, both
 * WORKER_CONCURRENCY large, so a slow callback receiver never holds up the LLM (nor the
 * other way round).
 */
export type Pool = 'llm' | 'delivery'

/** One running job's hold on a pool; `pool` is undefined once its stage's last write is queued. */
export interface Slot {
  pool: Pool | undefined
}

interface Waiter {
  slot: Slot
  pool: Pool
  resolve: (entered: boolean) => void
}

/**
 * The slot accounting of the two pools. A claim counts the slots free as it begins; a claim at
 * accept (or a run moving on to its callback) may take one of them before the store answers.
 * The job claimed for it then waits here, its lease held, for the next slot of its pool to
 * free, which its holder hands straight on: first come, first served, before any new claim.
 */
export class SlotPools {
  private llmActive = 0
  private deliveryActive = 0
  private readonly waiting: Waiter[] = []

  /** `onFree` runs as a slot frees with no job waiting for it, so the claim loop can fill it. */
  constructor(
    private readonly size: number,
    private readonly onFree: () => void,
  ) {}

  get llmFree(): number {
    return Math.max(0, this.size - this.llmActive)
  }

  get deliveryFree(): number {
    return Math.max(0, this.size - this.deliveryActive)
  }

  /** Takes a slot for a claimed job. */
  enter(slot: Slot, pool: Pool): void {
    if (pool === 'llm') this.llmActive++
    else this.deliveryActive++
    slot.pool = pool
  }

  /**
   * Takes a slot if one is free, else waits for the next one of the pool to free: true once
   * the slot is the job's, false if `signal` aborted first or `release()` let the waiters go.
   */
  enterOrWait(slot: Slot, pool: Pool, signal: AbortSignal): Promise<boolean> {
    if ((pool === 'llm' ? this.llmFree : this.deliveryFree) > 0) {
      this.enter(slot, pool)
      return Promise.resolve(true)
    }
    if (signal.aborted) return Promise.resolve(false)
    return new Promise((resolve) => {
      const waiter: Waiter = { slot, pool, resolve }
      this.waiting.push(waiter)
      signal.addEventListener(
        'abort',
        () => {
          const at = this.waiting.indexOf(waiter)
          if (at < 0) return
          this.waiting.splice(at, 1)
          resolve(false)
        },
        { once: true },
      )
    })
  }

  /** Every waiting job gives up its wait (the worker stops): none is handed a slot. */
  release(): void {
    for (const waiter of this.waiting.splice(0)) waiter.resolve(false)
  }

  /** Gives back a slot taken for a job that did not come (a claim at accept declined): nothing to refill. */
  cancel(slot: Slot): void {
    if (slot.pool !== undefined && !this.handOn(slot.pool)) this.free(slot.pool)
    slot.pool = undefined
  }

  /**
   * Called as the last write of a job's stage is queued: the claim for the next job joins the
   * same group commit instead of waiting a commit behind it (one commit less per hand-over).
   */
  leave(slot: Slot): void {
    const { pool } = slot
    if (pool === undefined) return
    slot.pool = undefined
    if (this.handOn(pool)) return
    this.free(pool)
    this.onFree()
  }

  /** The slot goes to the first job waiting for one of its pool, if any: the count stands. */
  private handOn(pool: Pool): boolean {
    const at = this.waiting.findIndex((w) => w.pool === pool)
    if (at < 0) return false
    const [waiter] = this.waiting.splice(at, 1)
    if (!waiter) return false
    waiter.slot.pool = pool
    waiter.resolve(true)
    return true
  }

  private free(pool: Pool): void {
    if (pool === 'llm') this.llmActive--
    else this.deliveryActive--
  }
}

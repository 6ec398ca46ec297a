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

/** The slot accounting of the two pools. */
export class SlotPools {
  private llmActive = 0
  private deliveryActive = 0

  /** `onFree` runs as a slot frees, so the claim loop can fill it. */
  constructor(
    private readonly size: number,
    private readonly onFree: () => void,
  ) {}

  get llmFree(): number {
    return this.size - this.llmActive
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

  /** Gives back a slot taken for a job that did not come (a claim at accept declined): nothing to refill. */
  cancel(slot: Slot): void {
    if (slot.pool === 'llm') this.llmActive--
    else if (slot.pool === 'delivery') this.deliveryActive--
    slot.pool = undefined
  }

  /**
   * Called as the last write of a job's stage is queued: the claim for the next job joins the
   * same group commit instead of waiting a commit behind it (one commit less per hand-over).
   */
  leave(slot: Slot): void {
    if (slot.pool === undefined) return
    if (slot.pool === 'llm') this.llmActive--
    else this.deliveryActive--
    slot.pool = undefined
    this.onFree()
  }
}

/**
 * Fair share of rationed LLM calls: owners (clients) with due jobs take turns, the one served
 * longest ago first, so one client's burst of thousands waits behind another's single message
 * for at most one call. Kept per instance (a fleet's instances each take turns of their own).
 */
export class OwnerTurns {
  private readonly served = new Map<string, number>()
  private turn = 0

  /** The owners in the order they should be served now. */
  order(owners: readonly string[]): string[] {
    return [...owners].sort(
      (a, b) => (this.served.get(a) ?? -1) - (this.served.get(b) ?? -1) || (a < b ? -1 : 1),
    )
  }

  /** An owner's job got an LLM call. */
  serve(owner: string): void {
    if (this.served.size > 10_000) this.served.clear()
    this.served.set(owner, this.turn++)
  }
}

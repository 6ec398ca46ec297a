/** Time is injected so leases, retries and backoff can be driven by tests. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** Job ids: UUIDv7, so they sort by creation time. */
export function newJobId(): string {
  return Bun.randomUUIDv7()
}

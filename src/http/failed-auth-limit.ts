import { tooManyFailedKeys } from './problem.ts'

/**
 * Failed key checks happen before the rate limiter sees a request, so they are counted here:
 * past `max` failures in a window from one address, further wrong keys get 429. A right key
 * still passes (the check is constant-time and cheap, so refusing it would only shut out a
 * client that shares an address with whoever guesses).
 */
export class FailedAuthLimit {
  private readonly failures = new Map<string, { count: number; resetAt: number }>()

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Throws 429 while `address` is over its failures. */
  check(address: string, now: number): void {
    if (this.max <= 0) return
    const entry = this.failures.get(address)
    if (entry && entry.resetAt > now && entry.count >= this.max)
      throw tooManyFailedKeys(Math.ceil((entry.resetAt - now) / 1000))
  }

  record(address: string, now: number): void {
    if (this.max <= 0) return
    if (this.failures.size > 10_000) this.forgetExpired(now)
    const entry = this.failures.get(address)
    if (!entry || entry.resetAt <= now) this.failures.set(address, { count: 1, resetAt: now + this.windowMs })
    else entry.count += 1
  }

  private forgetExpired(now: number): void {
    for (const [address, entry] of this.failures) if (entry.resetAt <= now) this.failures.delete(address)
  }
}

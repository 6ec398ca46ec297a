import type { Logger } from '../log.ts'

/**
 * Where the fleet-wide limits are counted went out of reach, or came back: said once when it
 * starts and once when it ends, never once a request. While it lasts each instance counts
 * LLM_MAX_RPM and the API rate limit on its own (fail open), so a fleet of N instances may
 * allow up to N times the limits.
 */
export class OutageLog {
  private out = false

  constructor(
    /** The backing's name as operators know it: `redis`, `postgres`. */
    readonly dependency: string,
    private readonly logger: Logger,
  ) {}

  get ongoing(): boolean {
    return this.out
  }

  began(error?: unknown): void {
    if (this.out) return
    this.out = true
    // The code only: a driver's message may carry the URL, and with it a password.
    const code = (error as { code?: unknown } | undefined)?.code
    this.logger.warn(
      { dependency: this.dependency, code: typeof code === 'string' ? code : undefined },
      `${this.dependency} is out of reach: LLM_MAX_RPM and the API rate limit count per instance until it is back`,
    )
  }

  ended(): void {
    if (!this.out) return
    this.out = false
    this.logger.info(
      { dependency: this.dependency },
      `${this.dependency} is back: LLM_MAX_RPM and the API rate limit count for the whole fleet again`,
    )
  }
}

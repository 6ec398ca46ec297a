import { type Clock, TimeoutError, within } from '../clock.ts'
import { type AddressCheck, type AddressGuard, DnsLookupError } from './address-guard.ts'

/**
 * The intake's check, remembered per callback URL for a short while: most clients send every
 * job to the same few URLs, and checking one costs a URL parse and, for a name, a lookup. A
 * literal address's verdict never changes; a name's is only a first opinion anyway, since
 * delivery resolves and checks again before it connects. A failed lookup is not remembered, and
 * one slower than `waitMs` fails as a DNS timeout: a slow resolver must not hold up the 202.
 */
export class RememberedVerdicts {
  private readonly verdicts = new Map<string, { check: AddressCheck; until: number }>()

  constructor(
    private readonly guard: Pick<AddressGuard, 'check'>,
    private readonly options: { ttlMs: number; max: number; waitMs: number; clock: Clock },
  ) {}

  async check(url: string): Promise<AddressCheck> {
    const { clock } = this.options
    const now = clock.now()
    const remembered = this.verdicts.get(url)
    if (remembered !== undefined && remembered.until > now) return remembered.check
    const hostname = URL.parse(url)?.hostname ?? url
    const check = await within(
      clock,
      this.options.waitMs,
      `the lookup of ${hostname}`,
      this.guard.check(url),
    ).catch((error: unknown) => {
      throw error instanceof TimeoutError ? new DnsLookupError(hostname, 'ETIMEOUT', { cause: error }) : error
    })
    this.verdicts.delete(url)
    if (this.verdicts.size >= this.options.max)
      this.verdicts.delete(this.verdicts.keys().next().value as string)
    this.verdicts.set(url, { check, until: now + this.options.ttlMs })
    return check
  }
}

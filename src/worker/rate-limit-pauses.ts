import type { RateLimitPause } from './retry-policy.ts'

export interface ActivePause extends RateLimitPause {
  /** The model paused; absent for the account. */
  model?: string
}

/**
 * The rate-limit pauses this process knows of. A model's pause lives here only, in memory:
 * another instance learns of it from its own 429. The account's pause is kept fleet-wide by
 * the call budget; it is noted here too, so this process can show it and tell its jobs.
 */
export class RateLimitPauses {
  private readonly models = new Map<string, number>()
  private account = 0

  /** Notes a pause (of `model`, or of the account); returns it as it now stands. */
  pause(pause: RateLimitPause, model: string): ActivePause {
    if (pause.scope === 'account') {
      this.account = Math.max(this.account, pause.until)
      return { scope: 'account', until: this.account }
    }
    const until = Math.max(this.models.get(model) ?? 0, pause.until)
    this.models.set(model, until)
    return { scope: 'model', model, until }
  }

  /** The pause that holds a call to `model` at `now`, the later one when both do. */
  holding(model: string, now: number): ActivePause | undefined {
    const until = this.models.get(model)
    const modelPause = until !== undefined && until > now ? until : 0
    if (this.account > now && this.account >= modelPause) return { scope: 'account', until: this.account }
    if (modelPause > now) return { scope: 'model', model, until: modelPause }
    return undefined
  }

  /** Every pause not yet over; the ones that are over are forgotten. */
  active(now: number): ActivePause[] {
    const out: ActivePause[] = []
    if (this.account > now) out.push({ scope: 'account', until: this.account })
    for (const [model, until] of this.models) {
      if (until > now) out.push({ scope: 'model', model, until })
      else this.models.delete(model)
    }
    return out
  }
}

/** What a job waiting for a pause says in its error. */
export function pauseMessage(pause: ActivePause): string {
  const what = pause.model === undefined ? 'the account' : pause.model
  return `waiting for the rate-limit pause on ${what} until ${new Date(pause.until).toISOString()}`
}

import type { Clock } from '../clock.ts'
import type { ClientStore } from '../store/client-store.ts'
import { clientIdOfOwner } from './credentials.ts'

/**
 * A job owner's own LLM limits, for the worker: only stored clients have any. Read at most once
 * per `cacheMs` per client (a PATCH reaches the worker within that time).
 */
export function clientLimitsOf(o: { clients: ClientStore; clock: Clock; cacheMs: number }) {
  const seen = new Map<string, { at: number; limits: Promise<Limits | undefined> }>()
  type Limits = { llmRpm: number | null; dailyTokenBudget: number | null }
  return (owner: string): Promise<Limits | undefined> => {
    const id = clientIdOfOwner(owner)
    if (id === undefined) return Promise.resolve(undefined)
    const now = o.clock.now()
    const entry = seen.get(id)
    if (entry && now - entry.at < o.cacheMs) return entry.limits
    const limits = o.clients
      .getClient(id)
      .then((c) =>
        c && (c.llmRpm !== null || c.dailyTokenBudget !== null)
          ? { llmRpm: c.llmRpm, dailyTokenBudget: c.dailyTokenBudget }
          : undefined,
      )
    if (seen.size > 10_000) seen.clear()
    seen.set(id, { at: now, limits })
    limits.catch(() => seen.delete(id))
    return limits
  }
}

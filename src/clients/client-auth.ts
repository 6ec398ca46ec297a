import type { Clock } from '../clock.ts'
import type { ClientRecord, ClientSettings, ClientStore } from '../store/client-store.ts'
import { hashApiKey, ownerOfClient } from './credentials.ts'

/** Whoever a request's key names: an API_KEYS or ADMIN_API_KEYS entry, or a stored client. */
export interface Caller {
  /** For logs. */
  name: string
  /** Whose jobs and conversations these are. */
  owner: string
  /** An ADMIN_API_KEYS key: sees and acts on every owner's, and manages clients. */
  admin: boolean
  /** A stored client's id; null for the keys from the environment. */
  clientId: string | null
  /** Null settings are the relay-wide ones (always, for the keys from the environment). */
  settings: ClientSettings
}

export const GLOBAL_SETTINGS: ClientSettings = {
  allowedCallbackHosts: null,
  rateLimit: null,
  llmRpm: null,
  dailyTokenBudget: null,
  model: null,
  systemPrompt: null,
}

export function callerOfClient(client: ClientRecord): Caller {
  return {
    name: client.name,
    owner: ownerOfClient(client.id),
    admin: false,
    clientId: client.id,
    settings: {
      allowedCallbackHosts: client.allowedCallbackHosts,
      rateLimit: client.rateLimit,
      llmRpm: client.llmRpm,
      dailyTokenBudget: client.dailyTokenBudget,
      model: client.model,
      systemPrompt: client.systemPrompt,
    },
  }
}

export type StoredKeyVerdict = { kind: 'client'; caller: Caller } | { kind: 'disabled' } | { kind: 'unknown' }

interface Seen {
  at: number
  client: Promise<ClientRecord | undefined>
  /** Once read: the client's id, or null for a key that names none. */
  id?: string | null
}

/** Entries kept at most: a flood of wrong keys empties the cache rather than grow it. */
const MAX_CACHED = 10_000

/**
 * The keys of stored clients, looked up by their SHA-256: a hash lookup compares no secret,
 * so it needs no constant-time compare (what it could leak by timing is about hashes nobody
 * can invert). Answers are kept `cacheMs` so a request costs no query; this process forgets a
 * client at once when it rotates or deletes it, other instances of a fleet once `cacheMs`
 * has passed (no cross-instance invalidation: the window is the price of no query per request).
 */
export class StoredClientKeys {
  private readonly seen = new Map<string, Seen>()
  private any = { value: false, at: Number.NEGATIVE_INFINITY }
  private refreshing: Promise<void> | undefined

  constructor(
    private readonly o: {
      clients: ClientStore
      clock: Clock
      cacheMs: number
      /** A failed background refresh of `anyClients` (a database fault): it is tried again later. */
      onError?: (error: unknown) => void
    },
  ) {}

  /** Reads whether any client is stored; call before serving, so `anyClients` starts true where it is. */
  async refresh(): Promise<void> {
    const at = this.o.clock.now()
    this.any = { value: await this.o.clients.hasClients(), at }
  }

  /**
   * Whether any client is stored (then the API needs a key), as last read: this answers at once
   * and reads again in the background once `cacheMs` has passed.
   */
  get anyClients(): boolean {
    if (this.o.clock.now() - this.any.at >= this.o.cacheMs && !this.refreshing) {
      this.refreshing = this.refresh()
        .catch((error) => this.o.onError?.(error))
        .finally(() => {
          this.refreshing = undefined
        })
    }
    return this.any.value
  }

  async resolve(presented: string): Promise<StoredKeyVerdict> {
    const hash = hashApiKey(presented)
    const now = this.o.clock.now()
    let entry = this.seen.get(hash)
    if (!entry || now - entry.at >= this.o.cacheMs) {
      if (this.seen.size >= MAX_CACHED) this.seen.clear()
      const fresh: Seen = { at: now, client: this.o.clients.findClientByKeyHash(hash) }
      this.seen.set(hash, fresh)
      fresh.client.then(
        (client) => {
          fresh.id = client?.id ?? null
        },
        // A database fault is no answer to keep: the next request asks again.
        () => {
          if (this.seen.get(hash) === fresh) this.seen.delete(hash)
        },
      )
      entry = fresh
    }
    const client = await entry.client
    if (!client || client.deletedAt !== null) return { kind: 'unknown' }
    if (client.disabled) return { kind: 'disabled' }
    return { kind: 'client', caller: callerOfClient(client) }
  }

  /** Drops what is cached of a client (its key rotated, it was disabled or deleted), and of the count. */
  forget(clientId: string): void {
    this.any = { value: this.any.value, at: Number.NEGATIVE_INFINITY }
    // An entry still being read may hold the client as it was: it goes too.
    for (const [hash, entry] of this.seen)
      if (entry.id === undefined || entry.id === clientId) this.seen.delete(hash)
  }
}

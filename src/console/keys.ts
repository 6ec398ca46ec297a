import { type Caller, callerOfClient, type StoredKeyVerdict } from '../clients/client-auth.ts'
import { hashApiKey } from '../clients/credentials.ts'
import type { ClientRecord } from '../store/client-store.ts'
import type { SessionSigner } from './session.ts'
import type { Viewer } from './viewer.ts'

/** Where keys come from: the environment (API_KEYS, ADMIN_API_KEYS) and the stored clients. */
export interface KeySources {
  /** Whether the API needs a key now (then the console does too). */
  enabled: () => boolean
  /** Every API_KEYS and ADMIN_API_KEYS entry. */
  environmentKeys: readonly string[]
  identifyEnvironmentKey: (key: string) => Caller | undefined
  /** A stored client's key; absent where clients are not kept. */
  resolveStoredKey?: (key: string) => Promise<StoredKeyVerdict>
  storedClient?: (id: string) => Promise<ClientRecord | undefined>
}

const viewerOf = (caller: Caller): Viewer =>
  caller.admin
    ? { kind: 'admin', name: caller.name }
    : { kind: 'client', name: caller.name, owner: caller.owner }

/**
 * Who may sign in, and whom a session still names. A session holds a credential, never a key:
 * `e<tag of the key>` for an environment key, `c<client id>~<tag of its key hash>` for a stored
 * client. A key taken out of the environment, or a client's key rotated, disabled or deleted,
 * ends its sessions at their next request.
 */
export class ConsoleKeys {
  private readonly environment = new Map<string, Viewer>()

  constructor(
    private readonly sources: KeySources,
    private readonly signer: SessionSigner,
  ) {
    for (const key of sources.environmentKeys) {
      const caller = sources.identifyEnvironmentKey(key)
      if (caller) this.environment.set(`e${signer.keyTag(key)}`, viewerOf(caller))
    }
  }

  get enabled(): boolean {
    return this.sources.enabled()
  }

  async signIn(key: string): Promise<{ viewer: Viewer; credential: string } | undefined> {
    const caller = this.sources.identifyEnvironmentKey(key)
    if (caller) return { viewer: viewerOf(caller), credential: `e${this.signer.keyTag(key)}` }
    const verdict = key === '' ? undefined : await this.sources.resolveStoredKey?.(key)
    if (verdict?.kind !== 'client' || verdict.caller.clientId === null) return undefined
    return {
      viewer: viewerOf(verdict.caller),
      credential: `c${verdict.caller.clientId}~${this.signer.keyTag(hashApiKey(key))}`,
    }
  }

  async viewerOf(credential: string): Promise<Viewer | undefined> {
    if (credential.startsWith('e')) return this.environment.get(credential)
    const cut = credential.indexOf('~')
    if (!credential.startsWith('c') || cut < 0 || !this.sources.storedClient) return undefined
    const client = await this.sources.storedClient(credential.slice(1, cut))
    if (!client || client.deletedAt !== null || client.disabled || client.keyHash === null) return undefined
    if (this.signer.keyTag(client.keyHash) !== credential.slice(cut + 1)) return undefined
    return viewerOf(callerOfClient(client))
  }
}

import type { Clock } from '../clock.ts'
import type { DataEncryption } from '../data-encryption.ts'
import type { ClientPatch, ClientRecord, ClientSettings, ClientStore } from '../store/client-store.ts'
import { GLOBAL_SETTINGS } from './client-auth.ts'
import { hashApiKey, newApiKey, newSigningSecret, signingSecretContext } from './credentials.ts'

export interface ClientServiceDeps {
  clients: ClientStore
  encryption: DataEncryption
  clock: Clock
  newId: () => string
  /** CALLBACK_SECRET_GRACE: how long the old secret signs beside the new one after a rotation. */
  secretGraceMs: number
  /** A client's key or state changed: cached lookups of it must go. */
  onChange: (id: string) => void
}

export type NewClientInput = { name: string } & Partial<ClientSettings>

export interface CreatedClient {
  client: ClientRecord
  /** Shown once: only its hash is kept. */
  apiKey: string
  signingSecret: string
}

/** Fields left out stay as they are; host names compare in lower case without trailing dots, as the guard's. */
function normalized<T extends Partial<ClientSettings>>(settings: T): T {
  const given = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as T
  const hosts = given.allowedCallbackHosts
  if (!hosts) return given
  return { ...given, allowedCallbackHosts: hosts.map((h) => h.trim().toLowerCase().replace(/\.+$/, '')) }
}

/** What operators do to clients (the admin routes and the CLI); nothing here knows HTTP. */
export class ClientService {
  constructor(private readonly deps: ClientServiceDeps) {}

  async create(input: NewClientInput): Promise<CreatedClient | 'name_taken'> {
    const id = this.deps.newId()
    const apiKey = newApiKey()
    const signingSecret = newSigningSecret()
    const now = this.deps.clock.now()
    const record = {
      // A setting left out is null: the relay-wide one.
      ...GLOBAL_SETTINGS,
      ...normalized(input),
      id,
      keyHash: hashApiKey(apiKey),
      signingSecret: await this.deps.encryption.seal(signingSecret, signingSecretContext(id)),
      disabled: false,
      createdAt: now,
    }
    const result = await this.deps.clients.createClient(record)
    if (result.kind === 'name_taken') return 'name_taken'
    this.deps.onChange(id)
    const client: ClientRecord = {
      ...record,
      previousSigningSecret: null,
      previousValidUntil: null,
      updatedAt: now,
      deletedAt: null,
    }
    return { client, apiKey, signingSecret }
  }

  list(): Promise<ClientRecord[]> {
    return this.deps.clients.listClients()
  }

  async get(id: string): Promise<ClientRecord | undefined> {
    const client = await this.deps.clients.getClient(id)
    return client?.deletedAt === null ? client : undefined
  }

  async update(id: string, patch: ClientPatch): Promise<ClientRecord | 'name_taken' | undefined> {
    const result = await this.deps.clients.updateClient(id, normalized(patch), this.deps.clock.now())
    if (typeof result === 'object') this.deps.onChange(id)
    return result
  }

  async delete(id: string): Promise<boolean> {
    const deleted = await this.deps.clients.deleteClient(id, this.deps.clock.now())
    if (deleted) this.deps.onChange(id)
    return deleted
  }

  /** A new API key; the old one stops working at once (on other instances within the lookup cache's time). */
  async rotateKey(id: string): Promise<string | undefined> {
    const apiKey = newApiKey()
    const rotated = await this.deps.clients.rotateClientKey(id, hashApiKey(apiKey), this.deps.clock.now())
    if (!rotated) return undefined
    this.deps.onChange(id)
    return apiKey
  }

  /** A new signing secret; callbacks carry both signatures until `previousValidUntil`. */
  async rotateSecret(id: string): Promise<{ signingSecret: string; previousValidUntil: number } | undefined> {
    const signingSecret = newSigningSecret()
    const now = this.deps.clock.now()
    const previousValidUntil = now + this.deps.secretGraceMs
    const sealed = await this.deps.encryption.seal(signingSecret, signingSecretContext(id))
    const rotated = await this.deps.clients.rotateClientSecret(id, sealed, previousValidUntil, now)
    if (!rotated) return undefined
    this.deps.onChange(id)
    return { signingSecret, previousValidUntil }
  }
}

import type { Clock } from '../clock.ts'
import { newJobId } from '../clock.ts'
import type { Config } from '../config/config.ts'
import type { DataEncryption } from '../data-encryption.ts'
import type { SigningSecrets } from '../delivery/signing-secrets.ts'
import type { Logger } from '../log.ts'
import type { ClientStore } from '../store/client-store.ts'
import { StoredClientKeys } from './client-auth.ts'
import { clientLimitsOf } from './client-limits.ts'
import { ClientService } from './client-service.ts'
import { ClientSigningSecrets } from './client-signing-secrets.ts'

/** How long a key's lookup is kept: the most a fleet's other instances lag behind a rotation. */
export const KEY_CACHE_MS = 5000

export interface Clients {
  /** Stored clients' keys, for the API's authentication. */
  keys: StoredClientKeys
  /** What the admin routes do. */
  service: ClientService
  /** What the deliverer signs each job's callback with. */
  signingSecrets: SigningSecrets
  /** A job owner's llm_rpm and daily_token_budget, for the worker. */
  limitsOf: ReturnType<typeof clientLimitsOf>
}

/** The clients room, composed for the relay (main.ts); reads once whether any client is stored. */
export async function openClients(o: {
  clients: ClientStore
  encryption: DataEncryption
  clock: Clock
  logger: Logger
  config: Pick<Config, 'callbackSecret' | 'callbackSecretGrace'>
}): Promise<Clients> {
  const keys = new StoredClientKeys({
    clients: o.clients,
    clock: o.clock,
    cacheMs: KEY_CACHE_MS,
    onError: (err) => o.logger.warn({ err }, 'could not read whether clients are stored; tried again'),
  })
  await keys.refresh()
  return {
    keys,
    service: new ClientService({
      clients: o.clients,
      encryption: o.encryption,
      clock: o.clock,
      newId: newJobId,
      secretGraceMs: o.config.callbackSecretGrace,
      onChange: (id) => keys.forget(id),
    }),
    signingSecrets: new ClientSigningSecrets({
      clients: o.clients,
      encryption: o.encryption,
      fallback: o.config.callbackSecret,
    }),
    limitsOf: clientLimitsOf({ clients: o.clients, clock: o.clock, cacheMs: KEY_CACHE_MS }),
  }
}

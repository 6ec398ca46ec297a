import { createHash, timingSafeEqual } from 'node:crypto'
import { type Caller, GLOBAL_SETTINGS, type StoredClientKeys } from '../clients/client-auth.ts'
import type { ApiKey } from '../config/config.ts'
import { Problem, unauthorized } from './problem.ts'

/** Whoever a request's key names (see Caller): a key from the environment, or a stored client. */
export type Client = Caller

const ANONYMOUS: Client = {
  name: 'anonymous',
  owner: '',
  admin: false,
  clientId: null,
  settings: GLOBAL_SETTINGS,
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

/** Routes anyone may reach: the index, liveness, readiness, the API docs, and the console (it signs in with a cookie of its own). */
export function isOpenPath(path: string): boolean {
  return (
    path === '/' ||
    path === '/health' ||
    path === '/ready' ||
    path === '/swagger' ||
    path.startsWith('/swagger/') ||
    path === '/console' ||
    path.startsWith('/console/')
  )
}

/**
 * API_KEYS and ADMIN_API_KEYS: `Authorization: Bearer <key>` or `X-API-Key: <key>`. Keys are
 * compared as SHA-256 digests with timingSafeEqual, every key every time, so timing tells nothing.
 * A key that is none of them is looked up among the stored clients (src/clients/client-auth.ts).
 */
export class ApiKeyAuth {
  private readonly keys: { client: Client; digest: Buffer }[]
  private readonly clients = new WeakMap<Request, Client>()

  constructor(
    keys: readonly ApiKey[],
    adminKeys: readonly ApiKey[] = [],
    private readonly stored?: StoredClientKeys,
  ) {
    const entry = (k: ApiKey, admin: boolean) => ({
      // A named key owns its data by name, so the key can be rotated; an unnamed one by its digest.
      client: {
        name: k.name,
        owner: k.named ? k.name : `key:${digest(k.key).toString('hex').slice(0, 16)}`,
        admin,
        clientId: null,
        settings: GLOBAL_SETTINGS,
      },
      digest: digest(k.key),
    })
    this.keys = [...keys.map((k) => entry(k, false)), ...adminKeys.map((k) => entry(k, true))]
  }

  /** Whether the API needs a key: API_KEYS is set, or a client is stored. */
  get enabled(): boolean {
    return this.keys.length > 0 || this.stored?.anyClients === true
  }

  /**
   * Throws a 401 problem for a protected route without a valid key, 403 for a disabled
   * client's. Answers at once for a key from the environment; a promise for a stored one.
   */
  authenticate(request: Request, path: string): Client | Promise<Client> {
    if (!this.enabled || isOpenPath(path)) return ANONYMOUS
    const presented = bearer(request.headers.get('authorization')) ?? request.headers.get('x-api-key')
    if (!presented) throw unauthorized('Send an API key as `Authorization: Bearer <key>` or `X-API-Key`.')
    const match = this.identifyEnvironmentKey(presented)
    if (match) {
      this.clients.set(request, match)
      return match
    }
    if (!this.stored) throw unauthorized('The API key is not valid.')
    return this.stored.resolve(presented).then((verdict) => {
      if (verdict.kind === 'disabled') throw new Problem(403, 'This client is disabled.')
      if (verdict.kind === 'unknown') throw unauthorized('The API key is not valid.')
      this.clients.set(request, verdict.caller)
      return verdict.caller
    })
  }

  /** The API_KEYS or ADMIN_API_KEYS entry a presented key is (the console's sign-in asks too). */
  identifyEnvironmentKey(presented: string): Client | undefined {
    const given = digest(presented)
    let match: Client | undefined
    for (const k of this.keys) if (timingSafeEqual(k.digest, given) && !match) match = k.client
    return match
  }

  clientOf(request: Request): Client {
    return this.clients.get(request) ?? ANONYMOUS
  }

  /**
   * Whose jobs and conversations a request may see and act on: its key's owner, or undefined
   * for every owner's (an admin key, or a relay without keys, where everything is open).
   */
  visibleOwner(request: Request): string | undefined {
    const client = this.clientOf(request)
    return !this.enabled || client.admin ? undefined : client.owner
  }
}

function bearer(header: string | null): string | undefined {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
  return match?.[1]
}

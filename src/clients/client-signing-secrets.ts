import { type DataEncryption, SealedValueError } from '../data-encryption.ts'
import { type SigningSecrets, SigningSecretUnavailable } from '../delivery/signing-secrets.ts'
import type { ClientStore } from '../store/client-store.ts'
import type { Job } from '../store/store.ts'
import { clientIdOfOwner, signingSecretContext } from './credentials.ts'

/**
 * A stored client's jobs are signed with its own secret, and during a rotation's grace with
 * the previous one too; every other job with CALLBACK_SECRET. The client is read afresh on
 * every attempt (one primary-key read beside an HTTP request), so a rotation on any instance
 * of a fleet signs the next attempt everywhere.
 */
export class ClientSigningSecrets implements SigningSecrets {
  constructor(
    private readonly o: {
      clients: ClientStore
      encryption: DataEncryption
      /** CALLBACK_SECRET: for jobs of API_KEYS owners. */
      fallback: string | undefined
    },
  ) {}

  async secretsFor(job: Job, now: number): Promise<string[]> {
    const id = clientIdOfOwner(job.owner)
    if (id === undefined) return this.o.fallback ? [this.o.fallback] : []
    const client = await this.o.clients.getClient(id)
    if (!client) throw new SigningSecretUnavailable(`the client ${id} that owns the job is not stored`)
    const sealed = [client.signingSecret]
    if (client.previousSigningSecret !== null && (client.previousValidUntil ?? 0) > now)
      sealed.push(client.previousSigningSecret)
    try {
      return await Promise.all(sealed.map((s) => this.o.encryption.open(s, signingSecretContext(id))))
    } catch (error) {
      if (!(error instanceof SealedValueError)) throw error
      throw new SigningSecretUnavailable(`the signing secret of client ${id} does not open: ${error.message}`)
    }
  }
}

import type { Job } from '../store/store.ts'

/**
 * Where the deliverer gets the secrets a job's callback is signed with, at delivery time (a
 * rotation takes effect on the next attempt): newest first; two during a rotation's grace;
 * none for an unsigned callback. Rejects with SigningSecretUnavailable when one is stored
 * but cannot be read.
 */
export interface SigningSecrets {
  secretsFor(job: Job, now: number): Promise<string[]>
}

/** A stored secret that cannot be opened (its DATA_ENCRYPTION_KEY is gone): nothing is sent unsigned. */
export class SigningSecretUnavailable extends Error {
  override readonly name = 'SigningSecretUnavailable'
}

/** CALLBACK_SECRET for every job (or no signature without one): the relay before clients. */
export function oneSecret(secret: string | undefined): SigningSecrets {
  const secrets = secret ? [secret] : []
  return { secretsFor: async () => secrets }
}

import { createHash, randomBytes } from 'node:crypto'

/**
 * What a client is given once and the relay keeps only a trace of: the API key (kept as its
 * SHA-256, so a stolen database holds no usable key) and the signing secret (kept sealed).
 */

/** `lrk_` + 32 random bytes: long enough that a hash lookup needs no constant-time compare. */
export function newApiKey(): string {
  return `lrk_${randomBytes(32).toString('base64url')}`
}

/** Hex SHA-256: what the clients table stores and looks a presented key up by. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

const CLIENT_OWNER = 'client:'

/**
 * A table client owns its jobs and conversations as `client:<id>`: no API_KEYS owner can
 * look like it (a named key's name holds no colon, an unnamed one owns as `key:…`).
 */
export function ownerOfClient(id: string): string {
  return `${CLIENT_OWNER}${id}`
}

/** The table client's id an owner names, or undefined for an API_KEYS owner. */
export function clientIdOfOwner(owner: string): string | undefined {
  return owner.startsWith(CLIENT_OWNER) ? owner.slice(CLIENT_OWNER.length) : undefined
}

/** The context a client's signing secret is sealed for: both columns, so rotation moves it unopened. */
export const signingSecretContext = (clientId: string): string => `client:${clientId}:signing_secret`

/**
 * Encryption at rest for the few stored values that are secrets of others: a client's
 * signing secret and the callback headers a job carries (a receiver's bearer token).
 * AES-256-GCM through WebCrypto; each sealed value names the key that sealed it, so
 * DATA_ENCRYPTION_KEY can list a new key first (it seals) and keep the old ones (they open).
 * The context (the row and column it belongs to) is bound in as additional data: a sealed
 * value copied into another row does not open there.
 */

export interface DataKey {
  /** Letters, digits, `_` and `-`: stored beside every value it seals. */
  id: string
  /** 32 bytes. */
  key: Uint8Array
}

/** A stored value that cannot be opened: tampered with, sealed for another row, or its key is gone. */
export class SealedValueError extends Error {
  override readonly name = 'SealedValueError'
}

const SEALED = 'enc:v1:'
// Without DATA_ENCRYPTION_KEY values are kept as they are, marked so a later key can tell them apart.
const PLAIN = 'plain:'
const IV_BYTES = 12
export const DATA_KEY_ID = /^[A-Za-z0-9_-]{1,32}$/

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

const base64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')

export class DataEncryption {
  private readonly keys = new Map<string, Promise<CryptoKey>>()
  private readonly sealingKey: string | undefined

  constructor(keys: readonly DataKey[]) {
    for (const { id, key } of keys) {
      if (!DATA_KEY_ID.test(id)) throw new Error(`data key id "${id}" must be 1-32 of A-Z a-z 0-9 _ -`)
      if (key.byteLength !== 32) throw new Error(`data key ${id} must be 32 bytes, not ${key.byteLength}`)
      if (this.keys.has(id)) throw new Error(`data key id ${id} is given twice`)
      this.keys.set(
        id,
        crypto.subtle.importKey('raw', new Uint8Array(key), 'AES-GCM', false, ['encrypt', 'decrypt']),
      )
    }
    this.sealingKey = keys[0]?.id
  }

  /** Whether new values are sealed (DATA_ENCRYPTION_KEY is set). */
  get enabled(): boolean {
    return this.sealingKey !== undefined
  }

  /** `enc:v1:<key id>:<iv>:<ciphertext and tag>`, or the text marked plain without a key. */
  async seal(plaintext: string, context: string): Promise<string> {
    const id = this.sealingKey
    if (id === undefined) return `${PLAIN}${plaintext}`
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
    const sealed = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: encoder.encode(context) },
      await (this.keys.get(id) as Promise<CryptoKey>),
      encoder.encode(plaintext),
    )
    return `${SEALED}${id}:${base64url(iv)}:${base64url(new Uint8Array(sealed))}`
  }

  /** The plaintext of a value `seal` made for the same context; throws SealedValueError otherwise. */
  async open(stored: string, context: string): Promise<string> {
    if (stored.startsWith(PLAIN)) return stored.slice(PLAIN.length)
    if (!stored.startsWith(SEALED)) throw new SealedValueError('the stored value is in no known format')
    const [id = '', iv = '', data = '', ...rest] = stored.slice(SEALED.length).split(':')
    if (rest.length > 0 || iv === '' || data === '')
      throw new SealedValueError('the stored value is not a sealed value')
    const key = this.keys.get(id)
    if (!key)
      throw new SealedValueError(
        `the stored value was sealed with data key ${id}, which DATA_ENCRYPTION_KEY no longer lists`,
      )
    try {
      const opened = await crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: new Uint8Array(Buffer.from(iv, 'base64url')),
          additionalData: encoder.encode(context),
        },
        await key,
        new Uint8Array(Buffer.from(data, 'base64url')),
      )
      return decoder.decode(opened)
    } catch {
      throw new SealedValueError(
        `the value sealed with data key ${id} does not open: altered, or not this row's`,
      )
    }
  }
}

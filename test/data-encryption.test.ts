import { describe, expect, test } from 'bun:test'
import { parseConfig } from '../src/config/config.ts'
import { DataEncryption, SealedValueError } from '../src/data-encryption.ts'

const key = (fill: number) => ({ id: `k${fill}`, key: new Uint8Array(32).fill(fill) })
const CONTEXT = 'job:1b4e28ba:callback_headers'
const SECRET = '{"authorization":"Bearer receiver-token-0123456789"}'

/** Flips one bit of the base64url part `part` (0 = iv, 1 = ciphertext) of a sealed value. */
function flipBit(sealed: string, part: 0 | 1): string {
  const fields = sealed.split(':')
  const index = 3 + part
  const bytes = Buffer.from(fields[index] as string, 'base64url')
  bytes[0] = (bytes[0] as number) ^ 1
  fields[index] = bytes.toString('base64url')
  return fields.join(':')
}

describe('data encryption at rest', () => {
  test('a sealed value opens with its context and holds no plaintext', async () => {
    const box = new DataEncryption([key(1)])
    const sealed = await box.seal(SECRET, CONTEXT)
    expect(sealed).toStartWith('enc:v1:k1:')
    expect(sealed).not.toContain('receiver-token')
    expect(await box.open(sealed, CONTEXT)).toBe(SECRET)
    // A fresh IV each time: the same secret twice does not read the same.
    expect(await box.seal(SECRET, CONTEXT)).not.toBe(sealed)
  })

  test('attack: a tampered ciphertext, IV or key id does not open', async () => {
    const box = new DataEncryption([key(1), key(2)])
    const sealed = await box.seal(SECRET, CONTEXT)
    await expect(box.open(flipBit(sealed, 1), CONTEXT)).rejects.toThrow(SealedValueError)
    await expect(box.open(flipBit(sealed, 0), CONTEXT)).rejects.toThrow(SealedValueError)
    // Another key that the relay holds, named in place of the right one.
    await expect(box.open(sealed.replace(':k1:', ':k2:'), CONTEXT)).rejects.toThrow(SealedValueError)
    await expect(box.open(`${sealed}:extra`, CONTEXT)).rejects.toThrow(SealedValueError)
    await expect(box.open('enc:v1:k1', CONTEXT)).rejects.toThrow(SealedValueError)
  })

  test('attack: a sealed value copied into another row does not open there', async () => {
    const box = new DataEncryption([key(1)])
    const sealed = await box.seal(SECRET, 'job:a:callback_headers')
    await expect(box.open(sealed, 'job:b:callback_headers')).rejects.toThrow(/not this row's/)
  })

  test('a key id the relay no longer holds is named in the error', async () => {
    const sealed = await new DataEncryption([key(1)]).seal(SECRET, CONTEXT)
    await expect(new DataEncryption([key(2)]).open(sealed, CONTEXT)).rejects.toThrow(
      /data key k1, which DATA_ENCRYPTION_KEY no longer lists/,
    )
  })

  test('rotation: the first key seals, an older one still opens what it sealed', async () => {
    const old = await new DataEncryption([key(1)]).seal(SECRET, CONTEXT)
    const rotated = new DataEncryption([key(2), key(1)])
    expect(await rotated.open(old, CONTEXT)).toBe(SECRET)
    expect(await rotated.seal(SECRET, CONTEXT)).toStartWith('enc:v1:k2:')
  })

  test('without a key, values are kept marked plain, and still open once a key is set', async () => {
    const plain = await new DataEncryption([]).seal(SECRET, CONTEXT)
    expect(plain).toBe(`plain:${SECRET}`)
    expect(await new DataEncryption([key(1)]).open(plain, CONTEXT)).toBe(SECRET)
    await expect(new DataEncryption([]).open(SECRET, CONTEXT)).rejects.toThrow(SealedValueError)
  })

  test('DATA_ENCRYPTION_KEY: id:base64 entries of 32 bytes; a bare key gets a stable id', () => {
    const b64 = Buffer.alloc(32, 7).toString('base64')
    const keys = parseConfig({
      DATA_ENCRYPTION_KEY: `2025:${b64},${Buffer.alloc(32, 8).toString('base64')}`,
    }).dataEncryptionKey
    expect(keys.map((k) => k.id)).toEqual(['2025', expect.stringMatching(/^[0-9a-f]{8}$/)])
    expect(
      parseConfig({ DATA_ENCRYPTION_KEY: Buffer.alloc(32, 8).toString('base64') }).dataEncryptionKey[0]?.id,
    ).toBe(keys[1]?.id as string)
    expect(() => parseConfig({ DATA_ENCRYPTION_KEY: `k:${Buffer.alloc(16).toString('base64')}` })).toThrow(
      /DATA_ENCRYPTION_KEY: entry 1 must be 32 bytes/,
    )
    expect(() => parseConfig({ DATA_ENCRYPTION_KEY: `bad id:${b64}` })).toThrow(/key id/)
  })
})

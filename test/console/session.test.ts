import { describe, expect, test } from 'bun:test'
import {
  SESSION_COOKIE,
  SessionSigner,
  sessionCookie,
  sessionCookieValue,
} from '../../src/console/session.ts'

const SECRET = 'a-console-session-secret-of-32-characters!'
const HOUR = 3_600_000
const signer = new SessionSigner(SECRET, HOUR)
const T0 = 1_800_000_000_000

/** Flips one character of a cookie part, the way a forger would edit it. */
function edit(cookie: string, part: number, to: string): string {
  const parts = cookie.split('.')
  parts[part] = to
  return parts.join('.')
}

describe('session cookies', () => {
  test('a session reads back as issued, until it expires', () => {
    const { session, cookie } = signer.issue(signer.keyTag('alice-key-0123456789abcdef'), T0)
    expect(signer.read(cookie, T0 + HOUR - 1)).toEqual(session)
    expect(signer.read(cookie, T0 + HOUR)).toBeUndefined()
  })

  test('an edited key tag, nonce or expiry breaks the signature', () => {
    const { cookie } = signer.issue(signer.keyTag('alice-key-0123456789abcdef'), T0)
    const bob = signer.keyTag('bob-key-0123456789abcdefgh')
    expect(signer.read(edit(cookie, 1, bob), T0)).toBeUndefined()
    expect(signer.read(edit(cookie, 2, 'AAAAAAAAAAAAAAAAAAAAAA'), T0)).toBeUndefined()
    expect(signer.read(edit(cookie, 3, String(T0 + 100 * HOUR)), T0 + 2 * HOUR)).toBeUndefined()
    // A visitor's unsigned-in session cannot be turned into a signed-in one.
    const visitor = signer.issue('', T0).cookie
    expect(signer.read(edit(visitor, 1, bob), T0)).toBeUndefined()
  })

  test('another secret (another fleet, a restart without CONSOLE_SESSION_SECRET) reads nothing', () => {
    const { cookie } = signer.issue('tag', T0)
    expect(
      new SessionSigner('another-secret-of-at-least-32-characters', HOUR).read(cookie, T0),
    ).toBeUndefined()
    expect(new SessionSigner(undefined, HOUR).read(cookie, T0)).toBeUndefined()
    // The same configured secret on another instance reads it: sessions work across a fleet.
    expect(new SessionSigner(SECRET, HOUR).read(cookie, T0)?.keyTag).toBe('tag')
  })

  test('garbage, truncation and oversize are refused without throwing', () => {
    const { cookie } = signer.issue('tag', T0)
    for (const bad of [
      '',
      'v1',
      'v1....',
      cookie.slice(0, -1),
      `${cookie}x`,
      `${cookie}.extra`,
      'x'.repeat(5000),
    ])
      expect(signer.read(bad, T0)).toBeUndefined()
    expect(signer.read(undefined, T0)).toBeUndefined()
  })

  test('key tags name keys without holding them, and depend on the secret', () => {
    const key = 'alice-key-0123456789abcdef'
    expect(signer.keyTag(key)).toBe(signer.keyTag(key))
    expect(signer.keyTag(key)).not.toContain(key)
    expect(signer.keyTag(key)).not.toBe(
      new SessionSigner('another-secret-of-at-least-32-characters', HOUR).keyTag(key),
    )
    expect(signer.issue(signer.keyTag(key), T0).cookie).not.toContain(key)
  })
})

describe('CSRF tokens', () => {
  test("a token holds for its own session only: another session's, or an edited one, is refused", () => {
    const mine = signer.issue('tag', T0).session
    const other = signer.issue('tag', T0).session
    const token = signer.csrfToken(mine)
    expect(signer.checkCsrf(mine, token)).toBe(true)
    expect(signer.checkCsrf(other, token)).toBe(false)
    expect(signer.checkCsrf(mine, `${token.startsWith('A') ? 'B' : 'A'}${token.slice(1)}`)).toBe(false)
    // Every edit of the last character too, also of the two bits it carries unused.
    for (const last of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')
      if (last !== token.at(-1)) expect(signer.checkCsrf(mine, `${token.slice(0, -1)}${last}`)).toBe(false)
    for (const bad of [null, undefined, '', 42, ['x']]) expect(signer.checkCsrf(mine, bad)).toBe(false)
  })
})

describe('the Set-Cookie header', () => {
  test('HttpOnly, SameSite=Strict, scoped to /console, expiring; Secure over https', () => {
    const plain = sessionCookie('value', { secure: false, maxAgeMs: HOUR })
    expect(plain).toBe(`${SESSION_COOKIE}=value; Path=/console; Max-Age=3600; HttpOnly; SameSite=Strict`)
    expect(sessionCookie('value', { secure: true, maxAgeMs: HOUR })).toEndWith('; Secure')
  })

  test('the session cookie is found among others', () => {
    expect(sessionCookieValue(`a=1; ${SESSION_COOKIE}=v1.x.y.1.z; b=2`)).toBe('v1.x.y.1.z')
    expect(sessionCookieValue(`x${SESSION_COOKIE}=nope`)).toBeUndefined()
    expect(sessionCookieValue(null)).toBeUndefined()
  })
})

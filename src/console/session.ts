import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * A console session, carried whole in a signed cookie: which key signed in (a tag, never the
 * key), when it expires, and a random nonce the CSRF token is bound to. The server keeps no
 * session table, so every instance that shares the secret accepts the cookie.
 */
export interface Session {
  /** What signed in (a credential of ConsoleKeys, never a key); '' for a visitor not signed in. */
  keyTag: string
  nonce: string
  expiresAt: number
}

const VERSION = 'v1'
const b64url = (bytes: Buffer): string => bytes.toString('base64url')

/** Signs and checks session cookies and CSRF tokens with one secret (HMAC-SHA256). */
export class SessionSigner {
  private readonly secret: Buffer

  /** `secret` unset: a random one, so sessions last as long as this process and work on it alone. */
  constructor(
    secret: string | undefined,
    readonly ttlMs: number,
  ) {
    this.secret = secret === undefined ? randomBytes(32) : Buffer.from(secret, 'utf8')
  }

  /** A stable, secret-dependent name for an API key: sessions name keys without holding them. */
  keyTag(apiKey: string): string {
    return b64url(this.mac(`key\u0000${apiKey}`)).slice(0, 22)
  }

  /** A new session (a fresh nonce: signing in never keeps the visitor's earlier one). */
  issue(keyTag: string, now: number): { session: Session; cookie: string } {
    const session: Session = { keyTag, nonce: b64url(randomBytes(16)), expiresAt: now + this.ttlMs }
    const body = `${VERSION}.${session.keyTag}.${session.nonce}.${session.expiresAt}`
    return { session, cookie: `${body}.${b64url(this.mac(`session\u0000${body}`))}` }
  }

  /** The session a cookie value carries, when its signature holds and it has not expired. */
  read(cookie: string | undefined, now: number): Session | undefined {
    if (!cookie || cookie.length > 256) return undefined
    const cut = cookie.lastIndexOf('.')
    if (cut < 0) return undefined
    const body = cookie.slice(0, cut)
    if (!this.matches(cookie.slice(cut + 1), `session\u0000${body}`)) return undefined
    const [version, keyTag, nonce, expires, ...rest] = body.split('.')
    if (version !== VERSION || rest.length > 0 || keyTag === undefined || !nonce || !expires) return undefined
    const expiresAt = Number(expires)
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= now) return undefined
    return { keyTag, nonce, expiresAt }
  }

  /** The token every console form carries: bound to this session, useless with any other. */
  csrfToken(session: Session): string {
    return b64url(this.mac(`csrf\u0000${session.nonce}`))
  }

  checkCsrf(session: Session, token: unknown): boolean {
    return typeof token === 'string' && this.matches(token, `csrf\u0000${session.nonce}`)
  }

  private mac(text: string): Buffer {
    return createHmac('sha256', this.secret).update(text).digest()
  }

  /**
   * Timing-safe, and as written, character for character: decoding first would take an edit
   * of the last character's two unused bits for the same MAC. Every MAC here has one length,
   * so a length tells nothing either.
   */
  private matches(given: string, text: string): boolean {
    const expected = Buffer.from(b64url(this.mac(text)))
    const actual = Buffer.from(given)
    return actual.length === expected.length && timingSafeEqual(actual, expected)
  }
}

export const SESSION_COOKIE = 'llm_relay_console'

/** `Set-Cookie` for a session: HttpOnly, SameSite=Strict, Secure over https, scoped to /console. */
export function sessionCookie(value: string, opts: { secure: boolean; maxAgeMs: number }): string {
  const parts = [
    `${SESSION_COOKIE}=${value}`,
    'Path=/console',
    `Max-Age=${Math.max(0, Math.floor(opts.maxAgeMs / 1000))}`,
    'HttpOnly',
    'SameSite=Strict',
  ]
  if (opts.secure) parts.push('Secure')
  return parts.join('; ')
}

/** The session cookie's value in a `Cookie` header, if there is one. */
export function sessionCookieValue(header: string | null): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim()
  }
  return undefined
}

import type { ConsoleKeys } from './keys.ts'
import { type Session, type SessionSigner, sessionCookie, sessionCookieValue } from './session.ts'
import type { Viewer } from './viewer.ts'

/** One request's standing: its session (always one, made fresh if needed) and who signed in. */
export interface Visit {
  session: Session
  /** Undefined until a key signs in (always set for an open console). */
  viewer: Viewer | undefined
  /** A `Set-Cookie` to send when the session is new. */
  setCookie?: string
  csrf: string
}

export interface GateDeps {
  signer: SessionSigner
  /** Who may sign in; when no key is needed, the console is open, like the API. */
  keys: ConsoleKeys
  now: () => number
  isHttps: (request: Request) => boolean
}

const OPEN: Viewer = { kind: 'open' }

/**
 * Who may see and do what. Every visitor carries a signed session cookie, signed in or not,
 * so every form can carry a CSRF token bound to it: the open console (no keys) is protected
 * from cross-site posts as well as the signed-in one.
 */
export class ConsoleGate {
  constructor(private readonly deps: GateDeps) {}

  async visit(request: Request): Promise<Visit> {
    const { signer, now } = this.deps
    const existing = signer.read(sessionCookieValue(request.headers.get('cookie')), now())
    if (existing) return this.standing(existing)
    const { session, cookie } = signer.issue('', now())
    return { ...(await this.standing(session)), setCookie: this.cookie(request, cookie) }
  }

  /** A valid key starts a new session (a new nonce: nothing of the visitor's earlier one carries over). */
  async signIn(request: Request, key: string): Promise<Visit | undefined> {
    const signed = this.deps.keys.enabled ? await this.deps.keys.signIn(key) : undefined
    if (!signed) return undefined
    const { session, cookie } = this.deps.signer.issue(signed.credential, this.deps.now())
    return {
      session,
      viewer: signed.viewer,
      csrf: this.deps.signer.csrfToken(session),
      setCookie: this.cookie(request, cookie),
    }
  }

  signOut(request: Request): string {
    return this.cookie(request, this.deps.signer.issue('', this.deps.now()).cookie)
  }

  /**
   * A state-changing request must carry the token of its own session, and must not come from
   * another site (browsers say so in Sec-Fetch-Site; SameSite=Strict keeps the cookie home too).
   */
  allowsPost(request: Request, visit: Visit, token: string | null): boolean {
    if (request.headers.get('sec-fetch-site') === 'cross-site') return false
    return visit.setCookie === undefined && this.deps.signer.checkCsrf(visit.session, token)
  }

  get keysEnabled(): boolean {
    return this.deps.keys.enabled
  }

  private async standing(session: Session): Promise<Visit> {
    const viewer = !this.deps.keys.enabled
      ? OPEN
      : session.keyTag === ''
        ? undefined
        : await this.deps.keys.viewerOf(session.keyTag)
    return { session, viewer, csrf: this.deps.signer.csrfToken(session) }
  }

  private cookie(request: Request, value: string): string {
    return sessionCookie(value, { secure: this.deps.isHttps(request), maxAgeMs: this.deps.signer.ttlMs })
  }
}

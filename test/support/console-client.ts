import { SESSION_COOKIE } from '../../src/console/session.ts'

/**
 * The console as a browser without JavaScript sees it: it keeps the session cookie, follows
 * nothing by itself, and posts forms with the CSRF token of the last page it read.
 */
export class ConsoleClient {
  cookie = ''
  csrf = ''

  constructor(readonly base: string) {}

  private keep(response: Response): Response {
    const set = response.headers.get('set-cookie')
    const value = set?.match(new RegExp(`^${SESSION_COOKIE}=([^;]*)`))?.[1]
    if (value !== undefined) this.cookie = `${SESSION_COOKIE}=${value}`
    return response
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const response = await fetch(`${this.base}${path}`, {
      redirect: 'manual',
      headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...headers },
    })
    return this.keep(response)
  }

  /** A page's status and HTML; remembers its CSRF token for the next post. */
  async page(path: string): Promise<{ status: number; html: string; response: Response }> {
    const response = await this.get(path)
    const html = await response.text()
    const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1]
    if (token) this.csrf = token
    return { status: response.status, html, response }
  }

  async post(
    path: string,
    fields: Record<string, string | string[]> = {},
    options: { csrf?: string | null; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const body = new URLSearchParams()
    const token = options.csrf === undefined ? this.csrf : options.csrf
    if (token !== null) body.append('_csrf', token)
    for (const [name, value] of Object.entries(fields))
      for (const v of Array.isArray(value) ? value : [value]) body.append(name, v)
    const response = await fetch(`${this.base}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...options.headers,
      },
      body: body.toString(),
    })
    return this.keep(response)
  }

  /** Opens the sign-in page, then posts the key; the answer is the sign-in POST's. */
  async signIn(key: string): Promise<Response> {
    await this.page('/console/sign-in')
    const response = await this.post('/console/sign-in', { key })
    await this.page('/console/jobs')
    return response
  }
}

import { Elysia } from 'elysia'

/** What the relay keeps about a request while it runs, for the access log and problems. */
export interface RequestInfo {
  id: string
  /** `performance.now()` at arrival: durations, not wall time. */
  started: number
  /** The job this request committed, if it did: the access line is then its acceptance line. */
  accepted?: { id: string; conversationId: string }
}

export type Server = { requestIP(request: Request): { address: string } | null } | null

/**
 * Where the path of a request URL starts. Bun hands handlers absolute URLs, except when the
 * Host header cannot make one (`Host: a b`, HTTP/1.0 without Host): then the URL is the path.
 */
function pathStart(url: string): number {
  if (url.startsWith('/')) return 0
  const start = url.indexOf('/', url.indexOf('//') + 2)
  return start === -1 ? url.length : start
}

/** `new URL(url).pathname` without building a URL: the path is read on every request. */
export function pathOf(url: string): string {
  const start = pathStart(url)
  let end = url.length
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c === 63 /* ? */ || c === 35 /* # */) {
      end = i
      break
    }
  }
  return start === end ? '/' : url.slice(start, end)
}

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** A caller's X-Request-Id when it is a sane token, else a fresh one. */
function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id')
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID()
}

/** The client's address: the socket's, or with TRUST_PROXY the first `X-Forwarded-For` hop. */
export function clientAddress(request: Request, server: Server, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-for')?.split(',')[0]?.trim()
    if (forwarded) return forwarded
  }
  return server?.requestIP(request)?.address ?? 'unknown'
}

/** The request info of every request in flight, dropped with the request. */
export class RequestInfos {
  private readonly infos = new WeakMap<Request, RequestInfo>()

  of(request: Request): RequestInfo | undefined {
    return this.infos.get(request)
  }

  markAccepted(request: Request, job: { id: string; conversationId: string }): void {
    const info = this.infos.get(request)
    if (info) info.accepted = { id: job.id, conversationId: job.conversationId }
  }

  /** The first hook of every request: its id (echoed as X-Request-Id) and its start. */
  plugin() {
    return new Elysia({ name: 'request-info' }).onRequest(({ request, set }) => {
      const id = requestIdOf(request)
      this.infos.set(request, { started: performance.now(), id })
      set.headers['x-request-id'] = id
      set.headers['x-content-type-options'] = 'nosniff'
    })
  }
}

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'
import { isIP } from 'node:net'
import { Readable } from 'node:stream'

export type PinnedRequestInit = RequestInit & {
  timeoutMs: number
  /** Keep-alive connections to reuse; without, each request opens (and closes) its own. */
  agents?: PinnedAgents
}

/**
 * Keep-alive connections for pinned requests: one agent per origin and checked address, so a
 * connection is only ever reused for the address it was opened to, which the guard has just
 * checked again. A name that now resolves elsewhere gets another agent, and so a connection to
 * the newly checked address; nothing is ever sent down a connection to an address unchecked.
 * The least recently used agents are closed past `max`. Each agent keeps up to `idle`
 * connections open between requests: as many as an origin may have callbacks in flight
 * (CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN), so a burst does not close the connections the next
 * burst opens again, a TLS handshake each.
 */
export class PinnedAgents {
  private readonly agents = new Map<string, HttpAgent>()
  private readonly max: number
  private readonly idle: number

  constructor({ max = 128, idle = 8 }: { max?: number; idle?: number } = {}) {
    this.max = max
    this.idle = idle
  }

  for(target: URL, address: string): HttpAgent {
    const key = `${target.protocol}//${target.host}|${address}`
    let agent = this.agents.get(key)
    if (agent !== undefined) this.agents.delete(key)
    else {
      const options = { keepAlive: true, maxFreeSockets: this.idle }
      agent = target.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options)
      if (this.agents.size >= this.max) {
        const [oldest, old] = this.agents.entries().next().value as [string, HttpAgent]
        this.agents.delete(oldest)
        old.destroy()
      }
    }
    this.agents.set(key, agent)
    return agent
  }

  get size(): number {
    return this.agents.size
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy()
    this.agents.clear()
  }
}

// Statuses whose response may not carry a body (the Response constructor throws for them).
const bodilessStatuses = new Set([101, 103, 204, 205, 304])

/**
 * Sends a request to `url` but connects only to `address`, the address the guard checked: the name is never
 * looked up again, so a DNS rebinding answer cannot redirect the connection. The Host header, TLS SNI and
 * certificate check still use the URL's hostname. Redirects are returned, never followed. Rejects with an
 * Error named 'TimeoutError' when the whole exchange takes longer than `timeoutMs`.
 */
export async function fetchPinned(url: string, address: string, init: PinnedRequestInit): Promise<Response> {
  const family = isIP(address)
  if (family === 0) throw new TypeError(`Not an IP address to connect to: ${address}`)
  const target = new URL(url)
  const send =
    target.protocol === 'https:' ? httpsRequest : target.protocol === 'http:' ? httpRequest : undefined
  if (!send) throw new TypeError(`Unsupported protocol: ${target.protocol}`)
  const body = init.body == null ? undefined : new Uint8Array(await new Response(init.body).arrayBuffer())
  const headers = Object.fromEntries(new Headers(init.headers))
  if (body && !('content-length' in headers)) headers['content-length'] = String(body.byteLength)

  // node:net asks with `all: true` when it may try several addresses; either way the answer is `address`.
  const pinnedLookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }])
    else callback(null, address, family)
  }

  return new Promise<Response>((resolve, reject) => {
    let response: IncomingMessage | undefined
    const abort = (reason: unknown) => {
      request.destroy(reason as Error)
      response?.destroy(reason as Error)
      reject(reason)
    }
    const onAbortSignal = () => abort(init.signal?.reason)
    const timer = setTimeout(() => abort(timeoutError(init.timeoutMs)), init.timeoutMs)
    const finish = () => {
      clearTimeout(timer)
      init.signal?.removeEventListener('abort', onAbortSignal)
    }

    // Without agents, agent: false: no pooled socket at all.
    const request = send(
      target,
      {
        method: init.method ?? 'GET',
        headers,
        lookup: pinnedLookup,
        agent: init.agents?.for(target, address) ?? false,
      },
      (res) => {
        response = res
        res.once('close', finish)
        try {
          resolve(toResponse(res))
        } catch (error) {
          abort(error)
        }
      },
    )
    request.once('error', (error) => {
      finish()
      reject(error)
    })
    if (init.signal?.aborted) return abort(init.signal.reason)
    init.signal?.addEventListener('abort', onAbortSignal, { once: true })
    request.end(body)
  })
}

function toResponse(res: IncomingMessage): Response {
  const headers = new Headers()
  for (const [name, value] of Object.entries(res.headers)) {
    for (const each of [value ?? []].flat()) headers.append(name, each)
  }
  const status = res.statusCode ?? 0
  if (bodilessStatuses.has(status)) res.resume()
  const body = bodilessStatuses.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>)
  return new Response(body, { status, statusText: res.statusMessage ?? '', headers })
}

function timeoutError(timeoutMs: number): Error {
  const error = new Error(`No answer within ${timeoutMs} ms.`)
  error.name = 'TimeoutError'
  return error
}

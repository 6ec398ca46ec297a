import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'

/** A self-signed certificate for 127.0.0.1 and localhost, made for these tests only (valid to 2126). */
export const TEST_CERT_PATH = join(import.meta.dir, 'tls', 'test-only.crt')
const TEST_KEY_PATH = join(import.meta.dir, 'tls', 'test-only.key')
export const TEST_CA = readFileSync(TEST_CERT_PATH, 'utf8')

/** A request function typed as Bun's fetch (whose type also carries `preconnect`). */
export const asFetch = (send: (input: string | URL | Request, init?: RequestInit) => Promise<Response>) =>
  Object.assign(send, { preconnect: fetch.preconnect })

/** Bun's fetch, trusting the test certificate: what a client of these servers calls with. */
export const trustingFetch = asFetch((input, init) => fetch(input, { ...init, tls: { ca: TEST_CA } }))

const answer = (content: string) =>
  JSON.stringify({
    id: 'chatcmpl-tls',
    object: 'chat.completion',
    created: 0,
    model: 'fake/model',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  })

/** One request as the HTTPS fake LLM saw it. */
export interface TlsCall {
  httpVersion: string
  body: { messages: { content: string }[] }
}

export interface TlsLlm {
  /** Base URL of its OpenAI-compatible API (…/v1). */
  url: string
  calls: TlsCall[]
  /** TLS connections (HTTP/2 sessions or HTTP/1.1 sockets) it accepted. */
  connections(): number
  stop(): Promise<void>
}

/**
 * A fake OpenAI-compatible LLM over HTTPS on 127.0.0.1, echoing the last message after
 * `latencyMs`. `http2`
 * speaks HTTP/2 (and HTTP/1.1 to a client that offers only that, as a CDN does); `http1`
 * speaks only HTTP/1.1, as many self-hosted APIs do.
 */
export async function startTlsLlm(speaks: 'http2' | 'http1', latencyMs = 0): Promise<TlsLlm> {
  const calls: TlsCall[] = []
  let connections = 0
  const tls = { key: readFileSync(TEST_KEY_PATH), cert: readFileSync(TEST_CERT_PATH) }
  const server =
    speaks === 'http2' ? http2.createSecureServer({ ...tls, allowHTTP1: true }) : https.createServer(tls)
  const sockets = new Set<TLSSocket>()
  server.on('secureConnection', (socket: TLSSocket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      raw += chunk
    })
    req.on('end', () => {
      const body = JSON.parse(raw) as TlsCall['body']
      calls.push({ httpVersion: req.httpVersion, body })
      const send = () => {
        res.setHeader('content-type', 'application/json')
        res.end(answer(`echo: ${body.messages.at(-1)?.content ?? ''}`))
      }
      if (latencyMs > 0) setTimeout(send, latencyMs)
      else send()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `https://127.0.0.1:${port}/v1`,
    calls,
    connections: () => connections,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        // Kept-alive connections would hold close() until they time out.
        for (const socket of sockets) socket.destroy()
      }),
  }
}

/**
 * The LLM API over HTTP/2 when it speaks it (LLM_HTTP2), so that every call shares one
 * connection. Bun's fetch keeps at most 64 idle HTTP/1.1 connections per process (the LLM's
 * and those of callbacks to IP addresses together): with more calls at once, each wave of answers closes the
 * connections beyond 64 and the next wave opens them again, a TLS handshake each (measured
 * on Bun 1.4.5: 200 calls at once over HTTPS cost 294 – 302 µs of CPU a call and opened 2 700
 * connections for 4 000 calls; over HTTP/2, 24 – 27 µs and one connection).
 *
 * Bun's `protocol: 'http2'` offers only h2 in the TLS handshake and fails with
 * `HTTP2Unsupported` before any request is sent when the server does not choose it (or the
 * URL is http://). Such a failure is answered by the same request over HTTP/1.1, and the
 * origin is remembered as HTTP/1.1 from then on: the LLM is never asked twice for one call.
 */
export function preferHttp2(base: typeof fetch = fetch): typeof fetch {
  /** Set once the origin has refused HTTP/2. */
  let http1Only = false
  const preferring = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (http1Only) return base(input, init)
    try {
      return await base(input, { ...init, protocol: 'http2' })
    } catch (error) {
      if (!isHttp2Unsupported(error)) throw error
      http1Only = true
      return base(input, init)
    }
  }
  return Object.assign(preferring, { preconnect: base.preconnect })
}

/** Bun's error for a server (or an http:// URL) that does not speak HTTP/2: nothing was sent. */
export function isHttp2Unsupported(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'HTTP2Unsupported'
}

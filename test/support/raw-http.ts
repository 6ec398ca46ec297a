import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Map<string, string>
  body: string
  raw: string
}

/**
 * Sends bytes exactly as given over a fresh TCP connection and reads the answer until the
 * server closes it: for requests `fetch` refuses to make (a bad Host, HTTP/1.0 without one,
 * oversized headers, broken framing). Send `Connection: close` (or HTTP/1.0) so it ends. The
 * socket is not half-closed after the request: Bun's server drops the answer to a client that
 * half-closed once the handler has waited on I/O (the commit's fsync, say).
 */
export function rawRequest(url: string, bytes: string): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes))
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const split = raw.indexOf('\r\n\r\n')
      const [statusLine = '', ...lines] = raw.slice(0, split === -1 ? raw.length : split).split('\r\n')
      const headers = new Map<string, string>()
      for (const line of lines) {
        const colon = line.indexOf(':')
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
      }
      resolve({
        status: Number(statusLine.split(' ')[1] ?? 0),
        headers,
        body: split === -1 ? '' : raw.slice(split + 4),
        raw,
      })
    })
  })
}

/** A POST of a JSON body with the given Host line ('' for none) and HTTP version. */
export function rawPost(
  path: string,
  body: unknown,
  options: { host: string | null; version?: '1.0' | '1.1'; headers?: Record<string, string> },
): string {
  const text = JSON.stringify(body)
  const lines = [
    `POST ${path} HTTP/${options.version ?? '1.1'}`,
    ...(options.host === null ? [] : [`Host: ${options.host}`]),
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(text)}`,
    'Connection: close',
    ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ]
  return `${lines.join('\r\n')}\r\n\r\n${text}`
}

import { isIPv6 } from 'node:net'

export interface StatusUrlOptions {
  /** PUBLIC_URL: when set, the only origin `status_url` ever uses. */
  publicUrl: string | undefined
  /** TRUST_PROXY: `X-Forwarded-Proto`/`-Host` name the origin the client used. */
  trustProxy: boolean
}

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/

function isHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.')
  return labels.every((label) => LABEL.test(label))
}

/**
 * `host` or `host:port` as a `Host` header should carry it: a DNS name, an IPv4 address or a
 * bracketed IPv6 address, and a port from 1 to 65535. Anything else (`a b`, `x:99999`, `[::1`,
 * `%`, empty) is not used to build a URL.
 */
export function isUsableHost(value: string): boolean {
  let host = value
  const portAt = value.startsWith('[') ? value.indexOf(']:') + 1 : value.lastIndexOf(':')
  if (portAt > 0) {
    const port = value.slice(portAt + 1)
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return false
    host = value.slice(0, portAt)
  }
  const syntax = host.startsWith('[')
    ? host.endsWith(']') && isIPv6(host.slice(1, -1))
    : !host.includes(':') && isHostname(host)
  // The WHATWG parser has the last word (it refuses `999.1.1.1`, which looks like a name above).
  return syntax && URL.canParse(`http://${value}/`)
}

const firstHop = (header: string | null): string | undefined => header?.split(',')[0]?.trim()

/**
 * The origin that starts a `status_url`, or '' when no trustworthy one is known (the URL is then
 * relative). Total: it never throws, whatever the headers say, because it runs for a request
 * whose job may already be committed.
 */
export function statusUrlOrigin(request: Request, options: StatusUrlOptions): string {
  if (options.publicUrl !== undefined) return options.publicUrl
  const direct = request.url.startsWith('https:') ? 'https' : 'http'
  const candidates: (string | undefined)[] = []
  let scheme = direct
  if (options.trustProxy) {
    const proto = firstHop(request.headers.get('x-forwarded-proto'))
    if (proto === 'http' || proto === 'https') scheme = proto
    candidates.push(firstHop(request.headers.get('x-forwarded-host')))
  }
  candidates.push(request.headers.get('host') ?? undefined)
  const host = candidates.find((h) => h !== undefined && isUsableHost(h))
  return host === undefined ? '' : `${scheme}://${host}`
}

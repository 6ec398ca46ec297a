/*
 * Longer than most files: the address tables, the parsing of every spelling of an address and
 * the guard that applies them are one security boundary, read and reviewed together.
 */
import { lookup } from 'node:dns/promises'
import { isIP, isIPv4, isIPv6 } from 'node:net'

/** A refused address range: the first `length` bits of `base`, and why it is refused. */
interface Range {
  base: bigint
  length: number
  reason: string
}

export interface AddressGuardOptions {
  /** Turns classification off (local development, tests); names are still resolved and pinned. */
  allowPrivate: boolean
  /** Hostnames, or suffixes starting with '.', that callbacks may go to; empty allows every host. */
  allowedHosts: string[]
  /** Every address of a name; throws the resolver's error (with its `code`) when the lookup fails. */
  resolve: (hostname: string) => Promise<string[]>
}

/**
 * The resolver's answers that mean "this name has no address": a verdict, so the URL may be refused.
 * Every other failure (EAI_AGAIN, ESERVFAIL, ETIMEOUT, ECONNREFUSED, …) says nothing about the name.
 */
const NO_SUCH_NAME = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'EAI_NONAME', 'EAI_NODATA'])

/** A lookup that failed without an answer: no verdict on the URL; ask again later. */
export class DnsLookupError extends Error {
  // Set, not inferred: `bun build --minify` renames classes.
  override readonly name = 'DnsLookupError'
  constructor(
    readonly hostname: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`the lookup of ${hostname} failed (${code}); that is no verdict, it is tried again later`, options)
  }
}

/** What a refusal that ALLOW_PRIVATE_CALLBACK_URLS would lift says, so a developer knows the way out. */
const PRIVATE_HINT = 'ALLOW_PRIVATE_CALLBACK_URLS=true allows it for local development'

export type AddressCheck = { ok: true; address: string; family: 4 | 6 } | { ok: false; reason: string }

// Ordered: the first matching range names the reason (the metadata address before link-local).
const ipv4Ranges: Range[] = [
  ipv4Range('169.254.169.254/32', 'cloud metadata'),
  ipv4Range('255.255.255.255/32', 'broadcast'),
  ipv4Range('0.0.0.0/8', 'unspecified'),
  ipv4Range('10.0.0.0/8', 'private (RFC 1918)'),
  ipv4Range('100.64.0.0/10', 'carrier-grade NAT'),
  ipv4Range('127.0.0.0/8', 'loopback'),
  ipv4Range('169.254.0.0/16', 'link-local'),
  ipv4Range('172.16.0.0/12', 'private (RFC 1918)'),
  ipv4Range('192.0.0.0/24', 'IETF protocol assignments'),
  ipv4Range('192.0.2.0/24', 'documentation'),
  ipv4Range('192.88.99.0/24', '6to4 relay anycast'),
  ipv4Range('192.168.0.0/16', 'private (RFC 1918)'),
  ipv4Range('198.18.0.0/15', 'benchmarking'),
  ipv4Range('198.51.100.0/24', 'documentation'),
  ipv4Range('203.0.113.0/24', 'documentation'),
  ipv4Range('224.0.0.0/4', 'multicast'),
  ipv4Range('240.0.0.0/4', 'reserved'),
]

// Ranges that carry an IPv4 address are handled in classifyIPv6 before these.
const ipv6Ranges: Range[] = [
  ipv6Range('::/128', 'unspecified'),
  ipv6Range('::1/128', 'loopback'),
  ipv6Range('64:ff9b:1::/48', 'NAT64 local-use'),
  ipv6Range('100::/64', 'discard-only'),
  ipv6Range('2001::/32', 'Teredo'),
  ipv6Range('2001:2::/48', 'benchmarking'),
  ipv6Range('2001:10::/28', 'ORCHID'),
  ipv6Range('2001:20::/28', 'ORCHIDv2'),
  ipv6Range('2001::/23', 'IETF protocol assignments'),
  ipv6Range('2001:db8::/32', 'documentation'),
  ipv6Range('3fff::/20', 'documentation'),
  ipv6Range('fd00:ec2::254/128', 'cloud metadata'),
  ipv6Range('fc00::/7', 'IPv6 unique-local'),
  ipv6Range('fe80::/10', 'IPv6 link-local'),
  ipv6Range('fec0::/10', 'IPv6 site-local (deprecated)'),
  ipv6Range('ff00::/8', 'multicast'),
]
const globalUnicast = ipv6Range('2000::/3', '')
const ipv4Mapped = ipv6Range('::ffff:0:0/96', 'IPv4-mapped')
const ipv4Compatible = ipv6Range('::/96', 'IPv4-compatible')
const nat64 = ipv6Range('64:ff9b::/96', 'NAT64')
const sixToFour = ipv6Range('2002::/16', '6to4')

/** Why a literal IPv4 or IPv6 address must not be called back, or undefined for a public unicast address. */
export function classifyAddress(ip: string): string | undefined {
  if (isIPv4(ip)) return classifyIPv4(parseIPv4(ip) as number)
  if (!isIPv6(ip)) return 'not an IP address'
  // A zone id only has meaning on a link-local scope.
  if (ip.includes('%')) return 'IPv6 link-local'
  return classifyIPv6(parseIPv6(ip) as bigint)
}

function classifyIPv4(address: number): string | undefined {
  return matchRange(ipv4Ranges, BigInt(address), 32)
}

function classifyIPv6(address: bigint): string | undefined {
  const low32 = Number(address & 0xffffffffn)
  for (const form of [ipv4Mapped, nat64]) {
    if (inRange(address, form, 128)) return embedded(form, low32)
  }
  // :: and ::1 are inside ::/96; they are named by the table.
  if (inRange(address, ipv4Compatible, 128) && address > 1n)
    return embedded(ipv4Compatible, low32) ?? 'IPv4-compatible (deprecated)'
  if (inRange(address, sixToFour, 128)) return embedded(sixToFour, Number((address >> 80n) & 0xffffffffn))
  const reason = matchRange(ipv6Ranges, address, 128)
  if (reason) return reason
  return inRange(address, globalUnicast, 128) ? undefined : 'reserved'
}

function embedded(form: Range, ipv4: number): string | undefined {
  const reason = classifyIPv4(ipv4)
  return reason && `${reason} (${form.reason} ${formatIPv4(ipv4)})`
}

function matchRange(ranges: Range[], address: bigint, bits: number): string | undefined {
  return ranges.find((range) => inRange(address, range, bits))?.reason
}

function inRange(address: bigint, range: Range, bits: number): boolean {
  const shift = BigInt(bits - range.length)
  return address >> shift === range.base >> shift
}

function ipv4Range(cidr: string, reason: string): Range {
  const [base = '', length = ''] = cidr.split('/')
  return { base: BigInt(parseIPv4(base) as number), length: Number(length), reason }
}

function ipv6Range(cidr: string, reason: string): Range {
  const [base = '', length = ''] = cidr.split('/')
  return { base: parseIPv6(base) as bigint, length: Number(length), reason }
}

/** A strict dotted quad as a 32-bit number. */
function parseIPv4(text: string): number | undefined {
  if (!isIPv4(text)) return undefined
  return text.split('.').reduce((value, part) => value * 256 + Number(part), 0)
}

/** Eight 16-bit groups as one 128-bit number; `::`, an embedded dotted quad and a zone id are understood. */
function parseIPv6(text: string): bigint | undefined {
  if (!isIPv6(text)) return undefined
  const [address = ''] = text.split('%')
  const groupsOf = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((piece) => {
          if (!piece.includes('.')) return [Number.parseInt(piece, 16)]
          const ipv4 = parseIPv4(piece) as number
          return [ipv4 >>> 16, ipv4 & 0xffff]
        })
  const [head = '', tail] = address.split('::')
  const headGroups = groupsOf(head)
  const tailGroups = tail === undefined ? [] : groupsOf(tail)
  const zeros = Array<number>(8 - headGroups.length - tailGroups.length).fill(0)
  return [...headGroups, ...zeros, ...tailGroups].reduce((value, group) => (value << 16n) | BigInt(group), 0n)
}

function formatIPv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 0xff).join('.')
}

/** RFC 5952: lower case, leading zeros dropped, the longest run of two or more zero groups as `::`. */
function formatIPv6(address: bigint): string {
  const groups = Array.from({ length: 8 }, (_, index) =>
    Number((address >> BigInt(112 - 16 * index)) & 0xffffn),
  )
  let bestStart = -1
  let bestLength = 1
  for (let start = 0; start < 8; start++) {
    let length = 0
    while (start + length < 8 && groups[start + length] === 0) length++
    if (length > bestLength) [bestStart, bestLength] = [start, length]
  }
  const hex = (part: number[]) => part.map((group) => group.toString(16)).join(':')
  if (bestStart < 0) return hex(groups)
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`
}

/**
 * The canonical IP for a hostname that is an IP literal in any spelling (`[::1]`, `127.1`, `0x7f000001`,
 * `017700000001`, trailing dots), or undefined for a name. WHATWG URL parsing already folds most of these,
 * but the guard may be handed raw strings.
 */
export function parseHostLiteral(hostname: string): string | undefined {
  const unbracketed = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  if (isIPv6(unbracketed)) {
    const [address = '', zone] = unbracketed.split('%')
    const canonical = formatIPv6(parseIPv6(address) as bigint)
    return zone === undefined ? canonical : `${canonical}%${zone}`
  }
  const ipv4 = parseInetAton(hostname.replace(/\.+$/, ''))
  return ipv4 === undefined ? undefined : formatIPv4(ipv4)
}

/** inet_aton(3): one to four parts, each decimal, octal (leading 0) or hex (0x); the last fills the rest. */
function parseInetAton(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length > 4) return undefined
  const numbers: number[] = []
  for (const part of parts) {
    let value: number
    if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16)
    else if (/^0[0-7]*$/.test(part)) value = Number.parseInt(part, 8)
    else if (/^[1-9][0-9]*$/.test(part)) value = Number(part)
    else return undefined
    numbers.push(value)
  }
  const last = numbers.pop() as number
  if (numbers.some((value) => value > 255) || last >= 256 ** (4 - numbers.length)) return undefined
  return numbers.reduce((value, part, index) => value + part * 256 ** (3 - index), 0) + last
}

/** `localhost`, `*.localhost` (RFC 6761) and the empty name, in any case, with or without trailing dots. */
export function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/, '')
  return name === '' || name === 'localhost' || name.endsWith('.localhost')
}

/**
 * Decides whether a callback URL may be called and which address to connect to. The caller must connect
 * to the returned address (see fetchPinned): resolving the name again would let a DNS rebinding answer
 * through. A name the resolver says does not exist is refused; a lookup that fails otherwise (a DNS
 * timeout, a resolver down) rejects with DnsLookupError, which is no refusal: the caller tries later.
 */
export class AddressGuard {
  private readonly allowedHosts: string[]

  constructor(private readonly options: AddressGuardOptions) {
    this.allowedHosts = options.allowedHosts.map((host) => normalizeHostname(host.trim()))
  }

  async check(url: string): Promise<AddressCheck> {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return refused('not a valid URL')
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      return refused('scheme must be http or https')
    const hostname = normalizeHostname(parsed.hostname)
    if (hostname === '') return refused('empty host')
    if (!this.isAllowedHost(hostname)) return refused('host not in CALLBACK_ALLOWED_HOSTS')
    const { allowPrivate } = this.options
    if (!allowPrivate && isLocalhostName(hostname))
      return refused(`${hostname} (localhost name); ${PRIVATE_HINT}`)

    const literal = parseHostLiteral(hostname)
    if (literal !== undefined) {
      const reason = allowPrivate ? undefined : classifyAddress(literal)
      return reason ? refused(`${literal} (${reason}); ${PRIVATE_HINT}`) : allowed(literal)
    }
    const addresses = await this.lookup(hostname)
    if (typeof addresses === 'string') return refused(`${hostname} does not exist (${addresses})`)
    if (addresses.length === 0) return refused(`${hostname} does not resolve`)
    for (const address of addresses) {
      if (allowPrivate) {
        if (!isIP(address)) return refused(`${hostname} resolves to ${address} (not an IP address)`)
        continue
      }
      const reason = classifyAddress(address)
      if (reason) return refused(`${hostname} resolves to ${address} (${reason}); ${PRIVATE_HINT}`)
    }
    return allowed(addresses[0] as string)
  }

  /** The name's addresses, or the code of a "no such name" answer; throws DnsLookupError otherwise. */
  private async lookup(hostname: string): Promise<string[] | string> {
    try {
      return await this.options.resolve(hostname)
    } catch (error) {
      const code = String((error as NodeJS.ErrnoException)?.code ?? 'no error code')
      if (NO_SUCH_NAME.has(code)) return code
      throw new DnsLookupError(hostname, code, { cause: error })
    }
  }

  private isAllowedHost(hostname: string): boolean {
    if (this.allowedHosts.length === 0) return true
    return this.allowedHosts.some((entry) =>
      entry.startsWith('.') ? hostname.endsWith(entry) : hostname === entry,
    )
  }
}

function normalizeHostname(hostname: string): string {
  const unbracketed = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  return unbracketed.toLowerCase().replace(/\.+$/, '')
}

function refused(reason: string): AddressCheck {
  return { ok: false, reason }
}

function allowed(address: string): AddressCheck {
  return { ok: true, address, family: isIPv6(address) ? 6 : 4 }
}

/**
 * Resolves every address of a name through the system resolver (hosts file included), in its order.
 * Its errors pass through with their codes: the guard tells "no such name" from a failed lookup.
 */
export function systemResolver(): (hostname: string) => Promise<string[]> {
  return async (hostname) => {
    const found = await lookup(hostname, { all: true, verbatim: true })
    return found.map((entry) => entry.address)
  }
}

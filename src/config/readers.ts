/*
 * The readers of the environment's values: each turns a variable's text into its value or
 * throws a message naming what it expected, and where the text is not plain `String(value)`
 * (durations, sizes, keys…) carries the writer that turns the value back into text it reads
 * (check-config). The table of variables that uses them is config.ts.
 */

import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import { formatDuration, parseDuration, parseDurationList } from './duration.ts'

/** Reads a variable's text; `write` turns the value back into text the reader accepts (check-config). */
export type Reader<T> = ((raw: string) => T) & { write?: (value: T) => string }

/** A reader with its writer, for values whose text is not plain `String(value)` (durations, sizes…). */
export const writing = <T>(read: (raw: string) => T, write: (value: T) => string): Reader<T> =>
  Object.assign((raw: string) => read(raw), { write })

export const integer =
  (min: number, max: number) =>
  (raw: string): number => {
    if (!/^\s*-?\d+\s*$/.test(raw)) throw new Error(`must be a whole number, got "${raw}"`)
    const n = Number(raw)
    if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`)
    return n
  }

export const decimal =
  (min: number, max: number) =>
  (raw: string): number => {
    if (!/^\s*-?\d+(\.\d+)?\s*$/.test(raw)) throw new Error(`must be a number, got "${raw}"`)
    const n = Number(raw)
    if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`)
    return n
  }

export const duration = (min: number) =>
  writing((raw: string): number => {
    const ms = parseDuration(raw)
    if (ms === undefined) throw new Error(`must be a duration like 500ms, 10s, 5m or 2h, got "${raw}"`)
    if (ms < min) throw new Error(`must be at least ${formatDuration(min)}, got "${raw}"`)
    return ms
  }, formatDuration)

export const durationList = writing(
  (raw: string): number[] => {
    const list = parseDurationList(raw)
    if (list === undefined) throw new Error(`must be a comma list of durations like 5s,5m,30m, got "${raw}"`)
    return list
  },
  (list) => list.map(formatDuration).join(','),
)

export const text = (raw: string): string => raw

export const nonEmptyText =
  (example: string) =>
  (raw: string): string => {
    if (raw.trim() === '')
      throw new Error(`must not be empty (e.g. ${example}); leave the line out for the default`)
    return raw
  }

export const optionalText = (raw: string): string | undefined => (raw.trim() === '' ? undefined : raw)

export const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')

export const boolean = (raw: string): boolean => {
  const v = raw.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(v)) return true
  if (['false', '0', 'no', 'off', ''].includes(v)) return false
  throw new Error(`must be true or false, got "${raw}"`)
}

export const httpUrl = (raw: string): string => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new Error(`must be an absolute http(s) URL, got "${raw}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`must be an http or https URL, got "${raw}"`)
  return raw.replace(/\/+$/, '')
}

export type DatabaseConfig =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string; schema: string | undefined }

export const readDatabase = (raw: string): DatabaseConfig => {
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '')
    if (path === '')
      throw new Error('sqlite: needs a path, e.g. sqlite:./data/llm-relay.db or sqlite::memory:')
    return { kind: 'sqlite', path }
  }
  if (/^postgres(ql)?:\/\//.test(raw)) {
    // `?schema=name` puts the relay's tables in that schema (one database, several relays or tests).
    const url = new URL(raw)
    const schema = url.searchParams.get('schema') ?? undefined
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
      throw new Error(`?schema= must be a lower-case SQL name, got "${schema}"`)
    url.searchParams.delete('schema')
    return { kind: 'postgres', url: url.toString(), schema }
  }
  throw new Error(`must start with sqlite: or postgres://, got "${raw}"`)
}

export const database = writing(readDatabase, (db) => {
  if (db.kind === 'sqlite') return `sqlite:${db.path}`
  if (db.schema === undefined) return db.url
  const url = new URL(db.url)
  url.searchParams.set('schema', db.schema)
  return url.toString()
})

export interface ApiKey {
  name: string
  key: string
  /** Given as `name:key`, so logs and ownership use the name. */
  named: boolean
}

/** `unnamed`: what an entry without `name:` is called in logs (`key1`, `admin1`, …). */
export const apiKeys =
  (unnamed: string) =>
  (raw: string): ApiKey[] =>
    list(raw).map((entry, i) => {
      const colon = entry.indexOf(':')
      const named = colon > 0
      const [name, key] = named
        ? [entry.slice(0, colon), entry.slice(colon + 1)]
        : [`${unnamed}${i + 1}`, entry]
      if (key.length < 16)
        throw new Error(`entry ${i + 1} is shorter than 16 characters; use long random keys`)
      return { name, key, named }
    })

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export const logLevel = (raw: string): LogLevel => {
  const v = raw.trim().toLowerCase()
  if (!(LOG_LEVELS as readonly string[]).includes(v))
    throw new Error(`must be one of ${LOG_LEVELS.join(', ')}`)
  return v as LogLevel
}

export const callbackSecret = (raw: string): string | undefined => {
  if (raw === '') return undefined
  if (!raw.startsWith('whsec_'))
    throw new Error('must start with whsec_ followed by base64 (Standard Webhooks)')
  const bytes = Buffer.from(raw.slice('whsec_'.length), 'base64')
  if (bytes.length < 16) throw new Error('must hold at least 16 bytes of base64 after whsec_')
  return raw
}

export interface DataKeyEntry {
  id: string
  key: Uint8Array
}

/**
 * `id:base64key` entries (32 bytes each), the first sealing; a bare key's id is the start of
 * its SHA-256, so it stays the same from start to start.
 */
export const dataKeys = writing(
  (raw: string): DataKeyEntry[] => {
    const keys = list(raw).map((entry, i) => {
      const colon = entry.indexOf(':')
      const key = Buffer.from(colon > 0 ? entry.slice(colon + 1) : entry, 'base64')
      if (key.length !== 32)
        throw new Error(`entry ${i + 1} must be 32 bytes of base64 (openssl rand -base64 32)`)
      const id =
        colon > 0 ? entry.slice(0, colon) : createHash('sha256').update(key).digest('hex').slice(0, 8)
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id))
        throw new Error(`entry ${i + 1}: the key id must be 1 to 32 of A-Z a-z 0-9 _ -`)
      return { id, key: new Uint8Array(key) }
    })
    const ids = keys.map((k) => k.id)
    const twice = ids.find((id, i) => ids.indexOf(id) !== i)
    if (twice !== undefined) throw new Error(`the key id ${twice} is given twice`)
    return keys
  },
  (keys) => keys.map((k) => `${k.id}:${Buffer.from(k.key).toString('base64')}`).join(','),
)

export const byteSize = writing(
  (raw: string): number => {
    const match = /^\s*(\d+)\s*(b|kb|mb)?\s*$/i.exec(raw)
    if (!match) throw new Error(`must be a size like 65536, 64KB or 1MB, got "${raw}"`)
    const bytes =
      Number(match[1]) * ({ b: 1, kb: 1024, mb: 1024 * 1024 }[(match[2] ?? 'b').toLowerCase()] ?? 1)
    if (bytes < 1024 || bytes > 64 * 1024 * 1024)
      throw new Error(`must be between 1KB and 64MB, got "${raw}"`)
    return bytes
  },
  (bytes) =>
    bytes % (1024 * 1024) === 0
      ? `${bytes / (1024 * 1024)}MB`
      : bytes % 1024 === 0
        ? `${bytes / 1024}KB`
        : `${bytes}`,
)

/** MEMORY_SOFT_LIMIT: 0 (none), or a size of 64MB and more, with MB or GB. */
export const memorySize = writing(
  (raw: string): number => {
    const match = /^\s*(\d+)\s*(mb|gb)?\s*$/i.exec(raw)
    if (!match) throw new Error(`must be 0 or a size like 256MB or 1GB, got "${raw}"`)
    const unit = (match[2] ?? '').toLowerCase()
    if (unit === '' && Number(match[1]) !== 0) throw new Error(`must name its unit (MB or GB), got "${raw}"`)
    const bytes = Number(match[1]) * (unit === 'gb' ? 1024 ** 3 : 1024 ** 2)
    if (bytes !== 0 && bytes < 64 * 1024 ** 2) throw new Error(`must be 0 or at least 64MB, got "${raw}"`)
    return bytes
  },
  (bytes) =>
    bytes === 0 ? '0' : bytes % 1024 ** 3 === 0 ? `${bytes / 1024 ** 3}GB` : `${bytes / 1024 ** 2}MB`,
)

/** RFC 1123 host names: letters, digits and hyphens in dot-separated labels of at most 63. */
export const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i

export const hostList = (raw: string): string[] =>
  list(raw).map((entry) => {
    const host = entry.toLowerCase().replace(/\.+$/, '')
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
    if (isIP(bare) !== 0 || HOSTNAME.test(host.startsWith('.') ? host.slice(1) : host)) return host
    const asUrl = URL.parse(entry)?.hostname
    throw new Error(
      `"${entry}" is not a hostname; write a name like hooks.example.com or a suffix like .example.com${asUrl ? ` (here: ${asUrl})` : ''}`,
    )
  })

/** An IP address or a host name to listen on: Bun's listen would only say EINVAL. */
export const listenHost = (raw: string): string => {
  const host = raw.trim()
  if (isIP(host) !== 0 || HOSTNAME.test(host)) return host
  if (/^\[.*\]$/.test(host) && isIP(host.slice(1, -1)) === 6)
    throw new Error(`must be written without brackets, e.g. ${host.slice(1, -1)}`)
  throw new Error(`must be an IP address (0.0.0.0, 127.0.0.1, ::) or a host name, got "${raw}"`)
}

/** OTLP's header list (`name=value,…`, values URL-encoded), as the OpenTelemetry specification spells it. */
export const otlpHeaders = writing(
  (raw: string): Record<string, string> => {
    const headers: Record<string, string> = {}
    for (const pair of list(raw)) {
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim().toLowerCase()
      if (eq <= 0 || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name))
        throw new Error('must be name=value pairs separated by commas, e.g. x-api-key=abc123')
      try {
        headers[name] = decodeURIComponent(pair.slice(eq + 1).trim())
      } catch {
        throw new Error(`the value of ${name} is not URL-encoded text`)
      }
    }
    return headers
  },
  (headers) =>
    Object.entries(headers)
      .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
      .join(','),
)

export const maxRpm = (raw: string): number | undefined =>
  raw.trim() === '' ? undefined : integer(0, 100_000)(raw)

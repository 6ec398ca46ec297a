import pino from 'pino'
import { CENSORED, isSecretField, type Logger } from './log.ts'

/** A line's fields: flat values only (undefined ones are left out, as pino leaves them out). */
export type LineFields = Readonly<Record<string, string | number | boolean | null | undefined>>

const INFO = 30
// pino's own handles on a logger's destination and its bindings (exported for this kind of use).
const { streamSym, chindingsSym } = pino.symbols

// Per field name, what goes before its value: `,"name":`, or with the censored value for a secret
// one. Lines use a handful of names, so this stays small; it is bounded all the same.
const prefixes = new Map<string, string>()

function prefixOf(key: string): string {
  let prefix = prefixes.get(key)
  if (prefix === undefined) {
    prefix = `,${JSON.stringify(key)}:${isSecretField(key) ? `"${CENSORED}"` : ''}`
    if (prefixes.size >= 1000) prefixes.clear()
    prefixes.set(key, prefix)
  }
  return prefix
}

function encode(value: string | number | boolean | null): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null'
  return String(value)
}

/**
 * `logger.info(fields, msg)` for the lines written per request and per job: the same JSON line
 * pino writes (level, time, the logger's bindings, the fields in order, msg; secret fields
 * censored), built as one string and handed to the logger's destination. pino's general path
 * (its serialisers and formatters over an object) costs about three times as much a line;
 * bench/log-line.ts measures both.
 */
export function infoLine(logger: Logger, fields: LineFields, msg: string): void {
  if (logger.levelVal > INFO) return
  const internals = logger as unknown as Record<symbol, unknown>
  let line = `{"level":"info","time":"${new Date().toISOString()}"${internals[chindingsSym] as string}`
  for (const key in fields) {
    const value = fields[key]
    if (value === undefined) continue
    const prefix = prefixOf(key)
    line += prefix.endsWith(':') ? prefix + encode(value) : prefix
  }
  ;(internals[streamSym] as { write(line: string): void }).write(`${line},"msg":${JSON.stringify(msg)}}\n`)
}

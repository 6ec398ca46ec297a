import pino, { type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from './config/config.ts'

export type { Logger }

/**
 * Every path where a secret could appear is censored at every level; secrets are also
 * never put into log fields on purpose, this is the second line.
 */
export const REDACTED_PATHS = [
  'apiKey',
  'llmApiKey',
  'callbackSecret',
  'secret',
  'authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'config.LLM_API_KEY',
  'config.CALLBACK_SECRET',
  'config.API_KEYS',
  '*.apiKey',
  '*.authorization',
]

const LEVEL_COLOURS: Record<string, string> = {
  trace: '\x1b[90m',
  debug: '\x1b[36m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
  fatal: '\x1b[35m',
}

/** LOG_FORMAT=pretty: `12:00:00.000 INFO  message key=value …` for a human at a terminal. */
export function prettyLine(json: string, colour: boolean): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json
  }
  const { time, level, msg, service: _service, ...rest } = entry
  const clock = typeof time === 'string' ? time.slice(11, 23) : ''
  const label = String(level ?? '')
    .toUpperCase()
    .padEnd(5)
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
  const start = colour ? (LEVEL_COLOURS[String(level)] ?? '') : ''
  const end = colour ? '\x1b[0m' : ''
  return `${clock} ${start}${label}${end} ${String(msg ?? '')}${fields ? ` ${fields}` : ''}\n`
}

const prettyStdout: DestinationStream = {
  write(line: string) {
    process.stdout.write(prettyLine(line, process.stdout.isTTY === true))
  },
}

export function createLogger(
  level: LogLevel,
  destination?: DestinationStream,
  format: 'json' | 'pretty' = 'json',
): Logger {
  return pino(
    {
      level,
      base: { service: 'llm-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? (format === 'pretty' ? prettyStdout : undefined),
  )
}

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

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'llm-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  )
}

import { type Config, parseConfig } from './config.ts'

/** The one place that reads the process environment (Bun has already merged `.env` into it). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  return parseConfig(env)
}

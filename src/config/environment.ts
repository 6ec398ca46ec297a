import { type Config, parseConfig } from './config.ts'

export type Environment = Record<string, string | undefined>

/** The one place that reads the process environment (Bun has already merged `.env` into it). */
export function processEnvironment(): Environment {
  return process.env
}

export function loadConfig(env: Environment = processEnvironment()): Config {
  return parseConfig(env)
}

import { type Config, ConfigError, variables } from './config/config.ts'
import { renderSettings } from './config/describe.ts'
import { loadConfig, processEnvironment } from './config/environment.ts'
import { VERSION } from './version.ts'

const HELP = `llm-relay ${VERSION}: answers webhook messages with an LLM and delivers the answers to callback URLs.

Usage:
  llm-relay                 start serving (configured by the environment and a .env file)
  llm-relay serve           the same: start serving
  llm-relay check-config    validate the environment, print its warnings and the effective settings
                            as .env lines (secrets masked)
  llm-relay healthcheck     exit 0 when the relay on PORT answers /health (for container health checks)
  llm-relay clients create NAME
                            add a client to the configured database and print its API key and
                            signing secret, once (a first setup; later, POST /clients)
  llm-relay --version       print the version
  llm-relay --help          print this help

Environment (defaults in brackets):
${Object.values(variables)
  .map((v) => `  ${v.env.padEnd(28)} ${v.doc}${v.default === '' ? '' : ` [${v.default}]`}`)
  .join('\n')}

API docs: http://<host>:<port>/swagger once it runs.`

export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
  env: Record<string, string | undefined>
}

export const cliIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: processEnvironment(),
}

/**
 * The command line. Returns an exit code, or `serve` with the validated config when the
 * relay should start.
 */
export function runCli(
  argv: readonly string[],
  io: CliIo = cliIo,
): number | { serve: Config } | { healthcheck: string } | { createClient: string; config: Config } {
  const [command, ...rest] = argv
  if (command === '--help' || command === '-h' || command === 'help') {
    io.out(HELP)
    return 0
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    io.out(VERSION)
    return 0
  }
  if (command !== undefined && !['serve', 'check-config', 'healthcheck', 'clients'].includes(command)) {
    io.err(`llm-relay: unknown command "${command}"; see llm-relay --help`)
    return 2
  }
  const clientName = command === 'clients' ? clientToCreate(rest, io) : undefined
  if (typeof clientName === 'number') return clientName
  if (command !== 'clients' && rest.length > 0) {
    io.err(`llm-relay: unexpected arguments: ${rest.join(' ')}`)
    return 2
  }
  let config: Config
  try {
    config = loadConfig(io.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`llm-relay: ${error.message}`)
      return 1
    }
    throw error
  }
  if (clientName !== undefined) return { createClient: clientName, config }
  if (command === 'check-config') {
    io.out(renderSettings(config))
    return 0
  }
  if (command === 'healthcheck') {
    // A wildcard listen address is reached over loopback; a specific one only at itself.
    const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '[::1]' : config.host
    return {
      healthcheck: `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${config.port}/health`,
    }
  }
  return { serve: config }
}

const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** `clients create NAME`: the name, or an exit code for a command line that is not that. */
function clientToCreate(rest: readonly string[], io: CliIo): string | number {
  const [action, name, ...more] = rest
  if (action !== 'create' || name === undefined || more.length > 0) {
    io.err('llm-relay: usage: llm-relay clients create NAME')
    return 2
  }
  if (!CLIENT_NAME.test(name)) {
    io.err(
      'llm-relay: a client name is 1 to 64 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit)',
    )
    return 2
  }
  return name
}

/** `llm-relay healthcheck`: 0 when /health answers 200 within 3 s, else 1. */
export async function checkHealth(url: string, io: CliIo = cliIo): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3000) })
    if (response.ok) return 0
    io.err(`llm-relay: ${url} answered ${response.status}`)
  } catch (error) {
    io.err(`llm-relay: ${url} did not answer: ${error instanceof Error ? error.message : String(error)}`)
  }
  return 1
}

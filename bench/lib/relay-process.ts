import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { TEST_LLM_KEY } from '../../test/support/relay.ts'
import { benchDir } from './machine.ts'

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts')

export interface RelayProcess {
  url: string
  pid: number
  dir: string
  databasePath: string
  /** Resident memory of the relay process, in bytes. */
  rssBytes(): Promise<number>
  /** CPU time (user + system) the relay process has used so far, in ms; NaN where /proc is missing. */
  cpuMs(): number
  /** SIGKILL (a benchmark relay may hold calls that never end) and removes its folder. */
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
  const port = probe.port as number
  probe.stop(true)
  return port
}

/** A fresh folder for one relay's database and log; remove it with the relay. */
export function relayDir(): string {
  return mkdtempSync(join(benchDir(), 'llm-relay-bench-'))
}

/**
 * What a benchmark relay runs with, beside what every benchmark must set.
 * `defaults`: the default configuration users run — the API rate limit on (its maximum set
 * above what any load here sends, so every request is counted and none refused) and a JSON
 * request line per request at `LOG_LEVEL=info`. `lean`: the rate limit off and `LOG_LEVEL=warn`.
 */
export type Settings = 'defaults' | 'lean' | 'limit-only' | 'log-only'

/** RATE_LIMIT_MAX for `defaults`: the largest the config takes, per minute; no load here sends as many. */
export const RATE_LIMIT_ABOVE_LOAD = 1_000_000

const SETTINGS: Record<Settings, Record<string, string>> = {
  defaults: { RATE_LIMIT_MAX: String(RATE_LIMIT_ABOVE_LOAD), LOG_LEVEL: 'info' },
  lean: { RATE_LIMIT_MAX: '0', LOG_LEVEL: 'warn' },
  // The two halves, to tell their costs apart (BENCH_INTAKE_SETTINGS).
  'limit-only': { RATE_LIMIT_MAX: String(RATE_LIMIT_ABOVE_LOAD), LOG_LEVEL: 'warn' },
  'log-only': { RATE_LIMIT_MAX: '0', LOG_LEVEL: 'info' },
}

/** How a JSON line or a table names the settings. */
export const SETTINGS_NAMES: Record<Settings, string> = {
  defaults: 'defaults (rate limit on, request log at info)',
  lean: 'rate limit off, LOG_LEVEL=warn',
  'limit-only': 'rate limit on, LOG_LEVEL=warn',
  'log-only': 'rate limit off, request log at info',
}

/**
 * The environment of a benchmark relay: `settings` (the defaults unless said) plus what a
 * benchmark must set — the fake LLM, loopback callbacks allowed, no LLM call budget, and no cap
 * on callbacks to one origin (the one callback receiver here stands for every client's).
 */
export function benchEnv(
  dir: string,
  llmUrl: string,
  extra: Record<string, string> = {},
  settings: Settings = 'defaults',
) {
  return {
    DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
    HOST: '127.0.0.1',
    LLM_BASE_URL: llmUrl,
    LLM_API_KEY: TEST_LLM_KEY,
    LLM_MODEL: 'fake/model',
    LLM_MAX_RPM: '0',
    ALLOW_PRIVATE_CALLBACK_URLS: 'true',
    CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN: '10000',
    ...SETTINGS[settings],
    ...extra,
  }
}

async function readRss(pid: number): Promise<number> {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    if (kb) return Number(kb) * 1024
  } catch {
    // Not Linux: ask ps.
  }
  const out = await new Response(Bun.spawn(['ps', '-o', 'rss=', '-p', String(pid)]).stdout).text()
  return Number(out.trim()) * 1024
}

function readCpuMs(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return Number.NaN
  }
}

/** Polls /health as fast as the loopback answers; resolves with the time it first said 200. */
export async function waitForHealth(
  url: string,
  exited: Promise<number>,
  timeoutMs = 20_000,
): Promise<number> {
  const deadline = performance.now() + timeoutMs
  let gone = false
  void exited.then(() => {
    gone = true
  })
  for (;;) {
    try {
      const response = await fetch(`${url}/health`)
      if (response.status === 200) {
        const at = performance.now()
        await response.arrayBuffer()
        return at
      }
    } catch {
      // Not listening yet.
    }
    if (gone) throw new Error('the relay exited before /health answered')
    if (performance.now() > deadline) throw new Error(`/health did not answer within ${timeoutMs} ms`)
    await Bun.sleep(0)
  }
}

/**
 * Runs the relay the way an operator does, as its own process (`bun src/main.ts`, or the
 * compiled binary), logging at its default level to a file, and waits for /health.
 * BENCH_PROFILE=<folder> has Bun write a CPU profile (markdown) of each relay there.
 */
export async function startRelayProcess(
  env: Record<string, string>,
  options: { dir: string; executable?: string; command?: string[] } = { dir: relayDir() },
): Promise<RelayProcess> {
  const port = await freePort()
  const profile = process.env.BENCH_PROFILE
  // BENCH_BUN_FLAGS: flags for the runtime of each relay run from source (e.g. --smol).
  const flags = (process.env.BENCH_BUN_FLAGS ?? '').split(' ').filter((f) => f !== '')
  const command = options.command
    ? options.command
    : options.executable
      ? [options.executable]
      : profile
        ? [process.execPath, ...flags, '--cpu-prof-md', `--cpu-prof-dir=${profile}`, MAIN]
        : [process.execPath, ...flags, MAIN]
  const child = Bun.spawn(command, {
    cwd: options.dir,
    env: { PATH: process.env.PATH ?? '', SHUTDOWN_TIMEOUT: '1s', ...env, PORT: String(port) },
    stdout: Bun.file(join(options.dir, 'relay.log')),
    stderr: Bun.file(join(options.dir, 'relay.err')),
  })
  const url = `http://127.0.0.1:${port}`
  try {
    await waitForHealth(url, child.exited)
  } catch (error) {
    child.kill('SIGKILL')
    const err = readFileSync(join(options.dir, 'relay.err'), 'utf8')
    throw new Error(`${(error as Error).message}\n${err}`)
  }
  return {
    url,
    pid: child.pid,
    dir: options.dir,
    databasePath: join(options.dir, 'relay.db'),
    rssBytes: () => readRss(child.pid),
    cpuMs: () => readCpuMs(child.pid),
    async stop() {
      if (profile) {
        // The profile is written on a clean exit.
        child.kill('SIGTERM')
        await Promise.race([child.exited, Bun.sleep(5000)])
      }
      child.kill('SIGKILL')
      await child.exited
      if (process.env.BENCH_KEEP_LOG) copyFileSync(join(options.dir, 'relay.log'), process.env.BENCH_KEEP_LOG)
      rmSync(options.dir, { recursive: true, force: true })
    },
  }
}

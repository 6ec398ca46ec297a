import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { benchDir } from './machine.ts'

export interface LoadRun {
  tool: string
  connections: number
  seconds: number
  requests: number
  requestsPerSec: number
  /** Responses that were not 2xx, and socket errors and timeouts: a fair run has none. */
  non2xx: number
  errors: number
  latencyP50Ms: number
  latencyP99Ms: number
}

export interface LoadSpec {
  url: string
  body: string
  connections: number
  seconds: number
}

const AUTOCANNON = join(import.meta.dir, '..', '..', 'node_modules', 'autocannon', 'autocannon.js')

/**
 * The load tool: wrk when it is on PATH, else autocannon (a devDependency, so `bun install`
 * brings it) under Node when there is one, else under Bun. wrk comes first because it is C
 * and costs the server the least CPU on a small machine; autocannon under Node drives about
 * as hard here, under Bun roughly half as hard. Every figure in one run uses one tool;
 * BENCH_LOAD_TOOL=autocannon skips wrk.
 */
export function loadTool(): 'wrk' | 'autocannon (node)' | 'autocannon (bun)' {
  const wanted = process.env.BENCH_LOAD_TOOL
  if (Bun.which('wrk') && wanted !== 'autocannon') return 'wrk'
  if (Bun.which('node')) return 'autocannon (node)'
  return 'autocannon (bun)'
}

async function output(command: string[]): Promise<string> {
  const child = Bun.spawn(command, { stdout: 'pipe', stderr: 'pipe' })
  const [code, out, err] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ])
  if (code !== 0) throw new Error(`${command[0]} exited with ${code}: ${err}`)
  return out
}

/** wrk's durations: "631.08us", "5.45ms", "1.02s". */
function wrkMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '')
  if (!m) return Number.NaN
  const value = Number(m[1])
  return m[2] === 'us' ? value / 1000 : m[2] === 'ms' ? value : m[2] === 's' ? value * 1000 : value * 60_000
}

async function runWrk(spec: LoadSpec): Promise<LoadRun> {
  const dir = mkdtempSync(join(benchDir(), 'llm-relay-wrk-'))
  try {
    const script = join(dir, 'post.lua')
    writeFileSync(
      script,
      `wrk.method = "POST"\nwrk.body = [==[${spec.body}]==]\nwrk.headers["Content-Type"] = "application/json"\n`,
    )
    const text = await output([
      'wrk',
      '-t1',
      `-c${spec.connections}`,
      `-d${spec.seconds}s`,
      '--latency',
      '-s',
      script,
      spec.url,
    ])
    const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? Number.NaN)
    const errorCounts = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
    return {
      tool: 'wrk',
      connections: spec.connections,
      seconds: spec.seconds,
      requests,
      requestsPerSec: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? Number.NaN),
      non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
      errors: errorCounts ? errorCounts.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
      latencyP50Ms: wrkMs(/^\s+50%\s+(\S+)/m.exec(text)?.[1]),
      latencyP99Ms: wrkMs(/^\s+99%\s+(\S+)/m.exec(text)?.[1]),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function runAutocannon(spec: LoadSpec, runtime: string): Promise<LoadRun> {
  const text = await output([
    runtime,
    AUTOCANNON,
    '--json',
    '-c',
    String(spec.connections),
    '-d',
    String(spec.seconds),
    '-m',
    'POST',
    '-H',
    'content-type=application/json',
    '-b',
    spec.body,
    spec.url,
  ])
  const r = JSON.parse(text.trim().split('\n').at(-1) ?? '{}') as {
    requests: { total: number; average: number }
    non2xx: number
    errors: number
    timeouts: number
    duration: number
    latency: { p50: number; p99: number }
  }
  return {
    tool: runtime === 'node' ? 'autocannon (node)' : 'autocannon (bun)',
    connections: spec.connections,
    seconds: spec.seconds,
    requests: r.requests.total,
    requestsPerSec: r.requests.total / r.duration,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
  }
}

/** POSTs `body` to `url` over `connections` keep-alive connections for `seconds`. */
export async function runLoad(spec: LoadSpec): Promise<LoadRun> {
  const tool = loadTool()
  if (tool === 'wrk') return runWrk(spec)
  return runAutocannon(spec, tool === 'autocannon (node)' ? 'node' : process.execPath)
}

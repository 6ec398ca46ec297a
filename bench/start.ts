/**
 * Start: the compiled binary (`bun run build`) from exec to /health answering 200, with a
 * fresh database each time (the migrations run). Target ≤ 150 ms. Baseline: the smallest
 * Bun server, compiled with the same flags.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { benchDir } from './lib/machine.ts'
import { benchEnv, freePort, relayDir, waitForHealth } from './lib/relay-process.ts'
import { median, round } from './lib/stats.ts'

const RUNS = Number(process.env.BENCH_START_RUNS ?? 10)
const ROOT = join(import.meta.dir, '..')

async function run(command: string[], cwd = ROOT): Promise<void> {
  const child = Bun.spawn(command, { cwd, stdout: 'pipe', stderr: 'pipe' })
  if ((await child.exited) !== 0)
    throw new Error(`${command.join(' ')}: ${await new Response(child.stderr).text()}`)
}

/** ms from spawn to the first 200 from /health. */
async function startOnce(executable: string, env: Record<string, string>, cwd: string): Promise<number> {
  const port = await freePort()
  const started = performance.now()
  const child = Bun.spawn([executable], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) },
    stdout: 'ignore',
    stderr: 'ignore',
  })
  try {
    return (await waitForHealth(`http://127.0.0.1:${port}`, child.exited)) - started
  } finally {
    child.kill('SIGKILL')
    await child.exited
  }
}

const llm = new FakeLlm()
const scratch = mkdtempSync(join(benchDir(), 'llm-relay-start-'))
try {
  note('bun run build')
  const buildStarted = performance.now()
  await run([process.execPath, 'run', 'build'])
  const buildMs = performance.now() - buildStarted
  const binary = join(ROOT, 'dist', 'llm-relay')
  const hello = join(scratch, 'hello-server')
  await run([
    process.execPath,
    'build',
    join(import.meta.dir, 'hello-server.ts'),
    '--compile',
    '--minify',
    '--bytecode',
    '--outfile',
    hello,
  ])

  note(`${RUNS} starts of each binary`)
  const relayTimes: number[] = []
  const helloTimes: number[] = []
  for (let i = 0; i < RUNS + 1; i++) {
    const dir = relayDir()
    try {
      const relayMs = await startOnce(binary, benchEnv(dir, llm.url), dir)
      const helloMs = await startOnce(hello, {}, scratch)
      // The first start of each reads the binary from disk into the page cache.
      if (i > 0) {
        relayTimes.push(relayMs)
        helloTimes.push(helloMs)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const relayMs = median(relayTimes)
  const helloMs = median(helloTimes)
  const result: BenchResult = {
    bench: 'start',
    runs: RUNS,
    median_ms: round(relayMs),
    max_ms: round(Math.max(...relayTimes)),
    baseline_ms: round(helloMs),
    ratio: round(relayMs / helloMs),
    build_ms: round(buildMs),
    figures: [
      {
        what: 'start',
        measured: `${round(relayMs)} ms median (max ${round(Math.max(...relayTimes))} ms), new database`,
        baseline: `minimal compiled Bun server ${round(helloMs)} ms`,
        ratio: round(relayMs / helloMs),
        target: '≤ 150 ms',
        pass: relayMs <= 150,
      },
    ],
  }
  report(result)
} finally {
  llm.stop()
  rmSync(scratch, { recursive: true, force: true })
}

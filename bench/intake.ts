/**
 * Intake: POST /webhook req/s with each job committed, ÷ a bare Elysia route with the same
 * body schema; same load tool, same connections, same run. Target ≥ 0.6.
 */
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { CallbackSink } from '../test/support/callback-sink.ts'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { type LoadRun, runLoad } from './lib/load.ts'
import { benchDir } from './lib/machine.ts'
import { benchEnv, freePort, relayDir, startRelayProcess, waitForHealth } from './lib/relay-process.ts'
import { round } from './lib/stats.ts'

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const WARMUP_SECONDS = 1

async function measure(url: string, body: string): Promise<LoadRun> {
  await runLoad({ url, body, connections: CONNECTIONS, seconds: WARMUP_SECONDS })
  return runLoad({ url, body, connections: CONNECTIONS, seconds: SECONDS })
}

async function bareElysia(
  store: 'none' | 'memory' | 'sqlite' = 'none',
): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort()
  const child = Bun.spawn([process.execPath, join(import.meta.dir, 'bare-elysia.ts')], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), BARE_STORE: store, BENCH_DIR: benchDir() },
    stdout: 'ignore',
    stderr: 'inherit',
  })
  const url = `http://127.0.0.1:${port}`
  await waitForHealth(url, child.exited)
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM')
      await Promise.race([child.exited, Bun.sleep(2000)])
      child.kill('SIGKILL')
      await child.exited
    },
  }
}

const llm = new FakeLlm()
// The worker takes the head job and then waits: intake alone is measured, not the pipeline.
llm.latencyMs = 600_000
const sink = new CallbackSink()
const body = JSON.stringify({
  message: 'Hello, relay. What is the capital of France?',
  callback_url: `${sink.url}/hook`,
  conversation_id: 'bench-intake',
})

try {
  note(`bare Elysia route, ${CONNECTIONS} connections, ${SECONDS} s`)
  const bare = await bareElysia()
  const baseline = await measure(`${bare.url}/webhook`, body).finally(() => bare.stop())
  // Ceilings: the same bare route plus only the relay's store insert, in memory and durable.
  const ceilings: Record<'memory' | 'sqlite', LoadRun> = {} as Record<'memory' | 'sqlite', LoadRun>
  for (const store of ['memory', 'sqlite'] as const) {
    note(
      `bare Elysia route + SqliteStore.acceptJob (${store === 'sqlite' ? 'file, synchronous = FULL' : ':memory:'})`,
    )
    const ceiling = await bareElysia(store)
    ceilings[store] = await measure(`${ceiling.url}/webhook`, body).finally(() => ceiling.stop())
  }

  note(`relay POST /webhook, ${CONNECTIONS} connections, ${SECONDS} s`)
  const dir = relayDir()
  const relay = await startRelayProcess(benchEnv(dir, llm.url), { dir })
  let relayRun: LoadRun
  let committed: number
  try {
    relayRun = await measure(`${relay.url}/webhook`, body)
    const db = new Database(relay.databasePath, { readonly: true })
    committed = (db.query('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n
    db.close()
  } finally {
    await relay.stop()
  }

  const ratio = relayRun.requestsPerSec / baseline.requestsPerSec
  const clean = relayRun.non2xx === 0 && relayRun.errors === 0 && baseline.non2xx === 0
  const result: BenchResult = {
    bench: 'intake',
    tool: relayRun.tool,
    connections: CONNECTIONS,
    seconds: SECONDS,
    relay_rps: round(relayRun.requestsPerSec),
    bare_rps: round(baseline.requestsPerSec),
    ratio: round(ratio),
    relay_latency_p50_ms: round(relayRun.latencyP50Ms),
    relay_latency_p99_ms: round(relayRun.latencyP99Ms),
    relay_non2xx: relayRun.non2xx,
    relay_errors: relayRun.errors,
    jobs_committed: committed,
    // What the bare route reaches with nothing added but the store's insert: no relay
    // built on that store can do better.
    ceiling_memory_store_rps: round(ceilings.memory.requestsPerSec),
    ceiling_memory_store_ratio: round(ceilings.memory.requestsPerSec / baseline.requestsPerSec),
    ceiling_durable_store_rps: round(ceilings.sqlite.requestsPerSec),
    ceiling_durable_store_ratio: round(ceilings.sqlite.requestsPerSec / baseline.requestsPerSec),
    relay_of_durable_ceiling: round(relayRun.requestsPerSec / ceilings.sqlite.requestsPerSec),
    ceiling_non2xx:
      ceilings.memory.non2xx + ceilings.sqlite.non2xx + ceilings.memory.errors + ceilings.sqlite.errors,
    figures: [
      {
        what: 'intake',
        measured: `${Math.round(relayRun.requestsPerSec)} req/s (p50 ${round(relayRun.latencyP50Ms)} ms, p99 ${round(relayRun.latencyP99Ms)} ms)`,
        baseline: `bare Elysia route ${Math.round(baseline.requestsPerSec)} req/s (the same route plus only the store's durable insert: ${Math.round(ceilings.sqlite.requestsPerSec)} req/s = ${round(ceilings.sqlite.requestsPerSec / baseline.requestsPerSec)}; with an in-memory insert: ${round(ceilings.memory.requestsPerSec / baseline.requestsPerSec)})`,
        ratio: round(ratio),
        target: '≥ 0.6',
        pass: ratio >= 0.6 && clean,
      },
    ],
  }
  report(result)
} finally {
  llm.stop()
  sink.stop()
}
// The fake LLM still sleeps on the call it holds.
process.exit(0)

/**
 * Intake: POST /webhook req/s with each job committed, ÷ a bare Elysia route with the same
 * body schema; same load tool, same connections, same run. Two settings, each its own relay:
 * the defaults users run (rate limit on, above the load; request log at info), target ≥ 0.5;
 * and rate limit off with LOG_LEVEL=warn, target ≥ 0.7. The bare route is measured before and
 * after the relays and the baseline is the mean of the two, so a neighbour's burst of CPU on
 * this shared machine moves the ratio less. Beside them, the ceilings: the bare route plus
 * only the store's insert, durable and in memory.
 */
import { Database } from 'bun:sqlite'
import { CallbackSink } from '../test/support/callback-sink.ts'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { startBareElysia } from './lib/bare-process.ts'
import { type BenchResult, type Figure, note, report } from './lib/figures.ts'
import { type LoadRun, runLoad } from './lib/load.ts'
import { quick } from './lib/machine.ts'
import { benchEnv, relayDir, SETTINGS_NAMES, type Settings, startRelayProcess } from './lib/relay-process.ts'
import { round } from './lib/stats.ts'

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const SECONDS = Number(process.env.BENCH_SECONDS ?? (quick() ? 3 : 5))
const WARMUP_SECONDS = 1
const TARGETS: Partial<Record<Settings, number>> = { defaults: 0.5, lean: 0.7 }
/** BENCH_INTAKE_SETTINGS=defaults,lean,limit-only,log-only: which relays to measure. */
const SETTINGS = (process.env.BENCH_INTAKE_SETTINGS ?? 'defaults,lean').split(',') as Settings[]

async function measure(url: string, body: string): Promise<LoadRun> {
  await runLoad({ url, body, connections: CONNECTIONS, seconds: WARMUP_SECONDS })
  return runLoad({ url, body, connections: CONNECTIONS, seconds: SECONDS })
}

async function measureBare(store: 'none' | 'memory' | 'sqlite', body: string): Promise<LoadRun> {
  const bare = await startBareElysia(store)
  return measure(`${bare.url}/webhook`, body).finally(() => bare.stop())
}

interface RelayRun {
  settings: Settings
  run: LoadRun
  committed: number
  /** The relay's CPU time (all its threads) per request: less moved by a busy neighbour than req/s. */
  cpuUsPerRequest: number
}

async function measureRelay(settings: Settings, llmUrl: string, body: string): Promise<RelayRun> {
  note(`relay POST /webhook, ${SETTINGS_NAMES[settings]}, ${CONNECTIONS} connections, ${SECONDS} s`)
  const dir = relayDir()
  const relay = await startRelayProcess(benchEnv(dir, llmUrl, {}, settings), { dir })
  try {
    await runLoad({ url: `${relay.url}/webhook`, body, connections: CONNECTIONS, seconds: WARMUP_SECONDS })
    const cpuBefore = relay.cpuMs()
    const run = await runLoad({
      url: `${relay.url}/webhook`,
      body,
      connections: CONNECTIONS,
      seconds: SECONDS,
    })
    const cpuUsPerRequest = ((relay.cpuMs() - cpuBefore) * 1000) / run.requests
    const db = new Database(relay.databasePath, { readonly: true })
    const committed = (db.query('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n
    db.close()
    return { settings, run, committed, cpuUsPerRequest }
  } finally {
    await relay.stop()
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
  const bareBefore = await measureBare('none', body)
  // Ceilings: the same bare route plus only the relay's store insert, durable and in memory.
  note('bare Elysia route + SqliteStore.acceptJob (file, synchronous = FULL)')
  const durable = await measureBare('sqlite', body)
  let memory: LoadRun | undefined
  if (!quick()) {
    note('bare Elysia route + SqliteStore.acceptJob (:memory:)')
    memory = await measureBare('memory', body)
  }
  const relays: RelayRun[] = []
  for (const settings of SETTINGS) relays.push(await measureRelay(settings, llm.url, body))
  note('bare Elysia route, again')
  const bareAfter = await measureBare('none', body)
  const bareRps = (bareBefore.requestsPerSec + bareAfter.requestsPerSec) / 2
  const bareClean = bareBefore.non2xx + bareAfter.non2xx + bareBefore.errors + bareAfter.errors === 0
  const durableRatio = durable.requestsPerSec / bareRps
  const memoryRatio = memory && memory.requestsPerSec / bareRps

  const baseline = `bare Elysia route ${Math.round(bareRps)} req/s (mean of ${Math.round(bareBefore.requestsPerSec)} before and ${Math.round(bareAfter.requestsPerSec)} after; the route plus only the store's durable insert: ${round(durableRatio)}${memoryRatio === undefined ? '' : `, in memory: ${round(memoryRatio)}`})`
  const figures: Figure[] = []
  const details: Record<string, unknown> = {}
  for (const { settings, run, committed, cpuUsPerRequest } of relays) {
    const ratio = run.requestsPerSec / bareRps
    const clean = run.non2xx === 0 && run.errors === 0 && bareClean
    details[settings] = {
      rps: round(run.requestsPerSec),
      ratio: round(ratio),
      of_durable_ceiling: round(run.requestsPerSec / durable.requestsPerSec),
      cpu_us_per_request: round(cpuUsPerRequest),
      latency_p50_ms: round(run.latencyP50Ms),
      latency_p99_ms: round(run.latencyP99Ms),
      non2xx: run.non2xx,
      errors: run.errors,
      jobs_committed: committed,
    }
    const target = TARGETS[settings]
    if (target === undefined) continue
    figures.push({
      what: `intake, ${SETTINGS_NAMES[settings]}`,
      measured: `${Math.round(run.requestsPerSec)} req/s (p50 ${round(run.latencyP50Ms)} ms, p99 ${round(run.latencyP99Ms)} ms)${clean ? '' : `, ${run.non2xx} not 2xx, ${run.errors} errors`}`,
      baseline,
      ratio: round(ratio),
      target: `≥ ${target}`,
      pass: ratio >= target && clean,
    })
  }
  const result: BenchResult = {
    bench: 'intake',
    tool: bareBefore.tool,
    connections: CONNECTIONS,
    seconds: SECONDS,
    bare_rps: round(bareRps),
    bare_rps_before: round(bareBefore.requestsPerSec),
    bare_rps_after: round(bareAfter.requestsPerSec),
    ...details,
    // What the bare route reaches with nothing added but the store's insert: no relay
    // built on that store can do better.
    ceiling_durable_store_rps: round(durable.requestsPerSec),
    ceiling_durable_store_ratio: round(durableRatio),
    ceiling_memory_store_rps: memory && round(memory.requestsPerSec),
    ceiling_memory_store_ratio: memoryRatio && round(memoryRatio),
    ceiling_non2xx: durable.non2xx + durable.errors + (memory ? memory.non2xx + memory.errors : 0),
    figures,
  }
  report(result)
} finally {
  llm.stop()
  sink.stop()
}
// The fake LLM still sleeps on the call it holds.
process.exit(0)

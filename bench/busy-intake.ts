/**
 * Intake while the worker runs flat out: the relay, on its default settings, has a backlog of
 * queued jobs and a fake LLM that answers at once, so its worker claims, calls, stores and
 * delivers as fast as it can the whole time; meanwhile the load tool POSTs /webhook, the same
 * body as bench/intake.ts (the jobs it adds join one conversation, behind the backlog). Its
 * req/s ÷ the bare Elysia route's with the same load, before and after in the same run. Target ≥ 0.12. The jobs the worker finished in the
 * window are counted from the callbacks, and the backlog must outlast the window.
 */
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { CallbackSink } from '../test/support/callback-sink.ts'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { startBareElysia } from './lib/bare-process.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { fillQueue } from './lib/fill.ts'
import { type LoadRun, runLoad } from './lib/load.ts'
import { quick } from './lib/machine.ts'
import { benchEnv, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { round } from './lib/stats.ts'

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const SECONDS = Number(process.env.BENCH_SECONDS ?? (quick() ? 3 : 5))
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 150_000)
const TARGET = 0.12

const llm = new FakeLlm()
const sink = new CallbackSink()
const body = JSON.stringify({
  message: 'Hello, relay. What is the capital of France?',
  callback_url: `${sink.url}/hook`,
  conversation_id: 'bench-busy',
})

async function measure(url: string): Promise<LoadRun> {
  await runLoad({ url, body, connections: CONNECTIONS, seconds: 1 })
  return runLoad({ url, body, connections: CONNECTIONS, seconds: SECONDS })
}

async function measureBare(): Promise<LoadRun> {
  const bare = await startBareElysia('none')
  return measure(`${bare.url}/webhook`).finally(() => bare.stop())
}

try {
  note(`bare Elysia route, ${CONNECTIONS} connections, ${SECONDS} s`)
  const bareBefore = await measureBare()
  const dir = relayDir()
  note(`filling ${BACKLOG} queued jobs, one conversation each`)
  await fillQueue(join(dir, 'relay.db'), {
    jobs: BACKLOG,
    perConversation: 1,
    callbackUrl: `${sink.url}/hook`,
    now: Date.now(),
  })
  const relay = await startRelayProcess(benchEnv(dir, llm.url), { dir })
  let run: LoadRun
  let finished: number
  let left: number
  let relayCpuMs: number
  try {
    note('relay POST /webhook while its worker works through the backlog, LLM instant')
    await runLoad({ url: `${relay.url}/webhook`, body, connections: CONNECTIONS, seconds: 1 })
    const before = sink.received.length
    const cpuBefore = relay.cpuMs()
    run = await runLoad({ url: `${relay.url}/webhook`, body, connections: CONNECTIONS, seconds: SECONDS })
    relayCpuMs = relay.cpuMs() - cpuBefore
    finished = sink.received.length - before
    const db = new Database(relay.databasePath, { readonly: true })
    left = (
      db.query("SELECT COUNT(*) AS n FROM jobs WHERE id LIKE 'fill-%' AND status = 'queued'").get() as {
        n: number
      }
    ).n
    db.close()
  } finally {
    await relay.stop()
  }
  note('bare Elysia route, again')
  const bareAfter = await measureBare()
  const bareRps = (bareBefore.requestsPerSec + bareAfter.requestsPerSec) / 2
  const ratio = run.requestsPerSec / bareRps
  const flatOut = left > 0
  const clean = run.non2xx === 0 && run.errors === 0
  const jobsPerSec = finished / SECONDS
  const result: BenchResult = {
    bench: 'busy-intake',
    tool: run.tool,
    connections: CONNECTIONS,
    seconds: SECONDS,
    relay_rps: round(run.requestsPerSec),
    relay_latency_p50_ms: round(run.latencyP50Ms),
    relay_latency_p99_ms: round(run.latencyP99Ms),
    relay_non2xx: run.non2xx,
    relay_errors: run.errors,
    bare_rps: round(bareRps),
    bare_rps_before: round(bareBefore.requestsPerSec),
    bare_rps_after: round(bareAfter.requestsPerSec),
    ratio: round(ratio),
    worker_jobs_per_sec: round(jobsPerSec),
    backlog: BACKLOG,
    backlog_left: left,
    relay_cpu_share: round(relayCpuMs / (SECONDS * 1000)),
    figures: [
      {
        what: 'intake while the worker runs flat out',
        measured: `${Math.round(run.requestsPerSec)} req/s (p50 ${round(run.latencyP50Ms)} ms) while the worker finished ${Math.round(jobsPerSec)} jobs/s${flatOut ? '' : ' (the backlog ran out: not flat out)'}`,
        baseline: `bare Elysia route ${Math.round(bareRps)} req/s (mean of before and after)`,
        ratio: round(ratio),
        target: `≥ ${TARGET}`,
        pass: ratio >= TARGET && flatOut && clean,
      },
    ],
  }
  report(result)
} finally {
  llm.stop()
  sink.stop()
}
process.exit(0)

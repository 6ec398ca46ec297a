/**
 * Memory: the relay's resident memory with 100 000 jobs queued and 1 000 in flight (the fake
 * LLM holds every call). Target ≤ 150 MB. The queue is filled through the database directly
 * before the relay starts, with jobs over 10 000 conversations so 1 000 can run at once.
 */
import { CallbackSink } from '../test/support/callback-sink.ts'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { fillQueue } from './lib/fill.ts'
import { benchEnv, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { round } from './lib/stats.ts'

const QUEUED = 100_000
const IN_FLIGHT = 1_000
const MB = 1024 * 1024

const llm = new FakeLlm()
llm.latencyMs = 600_000
const sink = new CallbackSink()

async function inFlight(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  return Number(/^llm_relay_jobs_in_flight\S*\s+(\d+)/m.exec(text)?.[1] ?? 0)
}

/** An idle relay with an empty queue: what the process costs before any work. */
async function idleRss(): Promise<number> {
  const dir = relayDir()
  const relay = await startRelayProcess(benchEnv(dir, llm.url), { dir })
  try {
    await Bun.sleep(500)
    return await relay.rssBytes()
  } finally {
    await relay.stop()
  }
}

try {
  const idle = await idleRss()
  const dir = relayDir()
  note(`filling ${QUEUED} queued jobs`)
  const fillMs = await fillQueue(`${dir}/relay.db`, {
    jobs: QUEUED + IN_FLIGHT,
    perConversation: 10,
    callbackUrl: `${sink.url}/hook`,
    now: Date.now(),
  })
  const relay = await startRelayProcess(
    benchEnv(dir, llm.url, { WORKER_CONCURRENCY: String(IN_FLIGHT), LLM_TIMEOUT: '10m' }),
    { dir },
  )
  try {
    const deadline = performance.now() + 30_000
    let running = await inFlight(relay.url)
    while (running < IN_FLIGHT && performance.now() < deadline) {
      await Bun.sleep(50)
      running = await inFlight(relay.url)
    }
    // Let the claim bursts' garbage be collected as it would be in a while on a live server.
    await Bun.sleep(1000)
    const rss = await relay.rssBytes()
    const result: BenchResult = {
      bench: 'memory',
      queued: QUEUED,
      in_flight: running,
      llm_calls_received: llm.calls.length,
      rss_mb: round(rss / MB),
      idle_rss_mb: round(idle / MB),
      fill_ms: round(fillMs),
      figures: [
        {
          what: 'memory',
          measured: `${round(rss / MB)} MB RSS (${QUEUED} queued, ${running} in flight)`,
          baseline: `idle relay, empty queue: ${round(idle / MB)} MB`,
          ratio: null,
          target: '≤ 150 MB',
          pass: rss <= 150 * MB && running >= IN_FLIGHT,
        },
      ],
    }
    report(result)
  } finally {
    await relay.stop()
  }
} finally {
  llm.stop()
  sink.stop()
}
// The fake LLM still sleeps on the calls it holds.
process.exit(0)

/**
 * Pickup: on an idle relay with the default settings (rate limit on, request log at info), the
 * time from the POST being sent to the fake LLM receiving the request, one job at a time.
 * Target: median ≤ 1 ms, p90 ≤ 2 ms. Beside it, the same from the 202 reaching the client.
 */
import { CallbackSink } from '../test/support/callback-sink.ts'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { benchEnv, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { stampArrivals } from './lib/stamp.ts'
import { median, quantile, round } from './lib/stats.ts'

const JOBS = Number(process.env.BENCH_PICKUP_JOBS ?? 200)
const WARMUP = 20

const llm = new FakeLlm()
const sink = new CallbackSink()
const llmArrival = new Map<string, number>()
stampArrivals(llm.calls, (call, at) => {
  const last = call.body.messages.at(-1)
  if (last) llmArrival.set(last.content, at)
})

/** The floor: one request from here to the fake LLM and its answer, over a warm connection. */
async function directRoundTrip(): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < 50; i++) {
    const started = performance.now()
    const response = await fetch(`${llm.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake/model', messages: [{ role: 'user', content: `direct ${i}` }] }),
    })
    await response.arrayBuffer()
    times.push(performance.now() - started)
  }
  return median(times.slice(10))
}

const dir = relayDir()
const relay = await startRelayProcess(benchEnv(dir, llm.url), { dir })
try {
  note(`${JOBS} jobs one at a time on an idle relay`)
  const pickups: number[] = []
  const afterAccept: number[] = []
  const posts: number[] = []
  for (let i = 0; i < JOBS + WARMUP; i++) {
    const message = `pickup ${i}`
    const body = JSON.stringify({ message, callback_url: `${sink.url}/hook`, conversation_id: `pickup-${i}` })
    const sent = performance.now()
    const response = await fetch(`${relay.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    const accepted = performance.now()
    if (response.status !== 202) throw new Error(`expected 202, got ${response.status}`)
    await response.arrayBuffer()
    await sink.waitFor(i + 1)
    const arrived = llmArrival.get(message)
    if (arrived === undefined) throw new Error(`no LLM call for ${message}`)
    if (i >= WARMUP) {
      pickups.push(arrived - sent)
      afterAccept.push(arrived - accepted)
      posts.push(accepted - sent)
    }
    // Idle between jobs: the relay's timers and the kernel settle as on a quiet server.
    await Bun.sleep(2)
  }
  const p50 = median(pickups)
  const p90 = quantile(pickups, 0.9)
  const floor = await directRoundTrip()
  const result: BenchResult = {
    bench: 'pickup',
    jobs: JOBS,
    median_ms: round(p50),
    p90_ms: round(p90),
    p99_ms: round(quantile(pickups, 0.99)),
    min_ms: round(Math.min(...pickups)),
    from_202_median_ms: round(median(afterAccept)),
    from_202_p90_ms: round(quantile(afterAccept, 0.9)),
    post_to_202_median_ms: round(median(posts)),
    direct_llm_round_trip_ms: round(floor),
    figures: [
      {
        what: 'pickup',
        measured: `POST sent → LLM receives: median ${round(p50)} ms, p90 ${round(p90)} ms (the 202 arrives after ${round(median(posts))} ms)`,
        baseline: `a direct request to the fake LLM: ${round(floor)} ms round trip`,
        ratio: null,
        target: 'median ≤ 1 ms, p90 ≤ 2 ms',
        pass: p50 <= 1 && p90 <= 2,
      },
    ],
  }
  report(result)
} finally {
  await relay.stop()
  llm.stop()
  sink.stop()
}

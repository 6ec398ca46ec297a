/**
 * Throughput and overhead, with the fake LLM answering in 200 ms and WORKER_CONCURRENCY=200.
 *
 * Throughput: 2000 jobs over 400 conversations, posted as fast as the relay takes them;
 * jobs/s from the first POST to the last callback, ÷ the ideal 200 / 0.2 s. Target ≥ 0.9.
 *
 * Overhead: per job, callback received − 202 received − the LLM's 200 ms. Measured at that
 * load, but paced at 80 % of the ideal rate (800 jobs/s, again 2000 jobs over 400
 * conversations): a job that waits for a free worker or for its conversation's previous
 * answer is waiting by design, and that wait is not the relay's cost. Target p50 ≤ 5 ms,
 * p99 ≤ 25 ms. The saturated run's in-pipeline overhead (LLM request received → callback
 * received, − 200 ms) is reported beside it.
 */
import { CallbackSink } from '../test/support/callback-sink.ts'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { benchEnv, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { stampArrivals } from './lib/stamp.ts'
import { median, quantile, round } from './lib/stats.ts'

const LLM_MS = 200
const CONCURRENCY = 200
const JOBS = 2000
const CONVERSATIONS = 400
const IDEAL_JOBS_PER_SEC = CONCURRENCY / (LLM_MS / 1000)
const PACED_JOBS_PER_SEC = 0.8 * IDEAL_JOBS_PER_SEC
/** Client connections posting the burst: enough to keep the relay's intake busy. */
const POSTERS = 32

const llm = new FakeLlm()
llm.latencyMs = LLM_MS
const sink = new CallbackSink()
const llmArrival = new Map<string, number>()
const callbackArrival = new Map<string, number>()
stampArrivals(llm.calls, (call, at) => {
  const last = call.body.messages.at(-1)
  if (last) llmArrival.set(last.content, at)
})
stampArrivals(sink.received, (received, at) => callbackArrival.set(received.body.data.message, at))

interface Posted {
  message: string
  accepted: number
}

async function post(url: string, run: string, i: number): Promise<Posted> {
  const message = `${run} ${i}`
  const response = await fetch(`${url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message,
      callback_url: `${sink.url}/hook`,
      conversation_id: `${run}-${i % CONVERSATIONS}`,
    }),
  })
  const accepted = performance.now()
  if (response.status !== 202)
    throw new Error(`expected 202, got ${response.status}: ${await response.text()}`)
  await response.arrayBuffer()
  return { message, accepted }
}

async function waitForCallbacks(count: number): Promise<void> {
  await sink.waitFor(count, 60_000)
}

const overheadOf = (p: Posted): number => (callbackArrival.get(p.message) as number) - p.accepted - LLM_MS

const dir = relayDir()
const relay = await startRelayProcess(benchEnv(dir, llm.url, { WORKER_CONCURRENCY: String(CONCURRENCY) }), {
  dir,
})
try {
  // Warm-up: the JIT, the connection pools and the database file.
  const warm: Promise<Posted>[] = []
  for (let i = 0; i < 200; i++) warm.push(post(relay.url, 'warm', i))
  await Promise.all(warm)
  await waitForCallbacks(200)
  let done = 200

  note(`throughput: ${JOBS} jobs over ${CONVERSATIONS} conversations, as fast as accepted`)
  const started = performance.now()
  const cpuBefore = relay.cpuMs()
  const burst: Posted[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: POSTERS }, async () => {
      while (next < JOBS) {
        const i = next++
        burst[i] = await post(relay.url, 'burst', i)
      }
    }),
  )
  const intakeMs = performance.now() - started
  await waitForCallbacks(done + JOBS)
  done += JOBS
  const last = Math.max(...burst.map((p) => callbackArrival.get(p.message) as number))
  const elapsedMs = last - started
  const relayCpuMs = relay.cpuMs() - cpuBefore
  const jobsPerSec = JOBS / (elapsedMs / 1000)
  const ratio = jobsPerSec / IDEAL_JOBS_PER_SEC
  const inPipeline = burst.map(
    (p) => (callbackArrival.get(p.message) as number) - (llmArrival.get(p.message) as number) - LLM_MS,
  )

  note(`overhead: ${JOBS} jobs over ${CONVERSATIONS} conversations, paced at ${PACED_JOBS_PER_SEC} jobs/s`)
  const paced: Promise<Posted>[] = []
  const pacedStart = performance.now()
  for (let i = 0; i < JOBS; i++) {
    const due = pacedStart + (i * 1000) / PACED_JOBS_PER_SEC
    const wait = due - performance.now()
    if (wait >= 1) await Bun.sleep(wait)
    paced.push(post(relay.url, 'paced', i))
  }
  const pacedPosted = await Promise.all(paced)
  await waitForCallbacks(done + JOBS)
  const overheads = pacedPosted.map(overheadOf)
  const p50 = median(overheads)
  const p99 = quantile(overheads, 0.99)

  const result: BenchResult = {
    bench: 'throughput',
    jobs: JOBS,
    conversations: CONVERSATIONS,
    worker_concurrency: CONCURRENCY,
    llm_ms: LLM_MS,
    elapsed_ms: round(elapsedMs),
    intake_ms: round(intakeMs),
    jobs_per_sec: round(jobsPerSec),
    relay_cpu_ms_per_job: round(relayCpuMs / JOBS),
    relay_cpu_share: round(relayCpuMs / elapsedMs),
    ratio: round(ratio),
    overhead_p50_ms: round(p50),
    overhead_p90_ms: round(quantile(overheads, 0.9)),
    overhead_p99_ms: round(p99),
    overhead_max_ms: round(Math.max(...overheads)),
    paced_jobs_per_sec: PACED_JOBS_PER_SEC,
    saturated_in_pipeline_p50_ms: round(median(inPipeline)),
    saturated_in_pipeline_p99_ms: round(quantile(inPipeline, 0.99)),
    figures: [
      {
        what: 'throughput',
        measured: `${round(jobsPerSec)} jobs/s (${JOBS} jobs in ${round(elapsedMs / 1000)} s)`,
        baseline: `ideal ${IDEAL_JOBS_PER_SEC} jobs/s (${CONCURRENCY} / ${LLM_MS / 1000} s)`,
        ratio: round(ratio),
        target: '≥ 0.9',
        pass: ratio >= 0.9,
      },
      {
        what: 'overhead',
        measured: `p50 ${round(p50)} ms, p99 ${round(p99)} ms per job`,
        baseline: `LLM latency ${LLM_MS} ms (subtracted); at ${PACED_JOBS_PER_SEC} jobs/s`,
        ratio: null,
        target: 'p50 ≤ 5 ms, p99 ≤ 25 ms',
        pass: p50 <= 5 && p99 <= 25,
      },
    ],
  }
  report(result)
} finally {
  await relay.stop()
  llm.stop()
  sink.stop()
}

/**
 * Ten thousand conversations at once: a relay in front of a slow reasoning model. The fake LLM
 * answers in 2 s, WORKER_CONCURRENCY=2000, 20 000 jobs over 10 000 conversations (two each, the
 * second waiting for the first) posted as fast as the relay takes them, default settings.
 *
 * - throughput: jobs/s from the first POST to the last callback ÷ the ideal 2000 / 2 s;
 *   target ≥ 0.9.
 * - memory: the relay's largest resident memory during the run; target ≤ 250 MB.
 * - overhead: per job, callback received − LLM request received − 2 s (what the relay adds
 *   around the call it waits for); target p99 ≤ 10 ms.
 *
 * 2000 LLM calls plus their callbacks are more than the 256 requests Bun's fetch keeps open by
 * default (BUN_CONFIG_MAX_HTTP_REQUESTS, read once at start): the relay is run with the value
 * its start warning asks for, 2 × WORKER_CONCURRENCY, and the JSON line says whether it warned.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CallbackSink } from '../test/support/callback-sink.ts'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { quick } from './lib/machine.ts'
import { type Posted, postJobs } from './lib/post-jobs.ts'
import { benchEnv, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { stampArrivals } from './lib/stamp.ts'
import { median, quantile, round } from './lib/stats.ts'

const LLM_MS = 2000
const CONCURRENCY = Number(process.env.BENCH_CROWD_CONCURRENCY ?? 2000)
const JOBS = Number(process.env.BENCH_CROWD_JOBS ?? (quick() ? 2 * CONCURRENCY * 2 : 10 * CONCURRENCY))
const CONVERSATIONS = JOBS / 2
const IDEAL_JOBS_PER_SEC = CONCURRENCY / (LLM_MS / 1000)
const HTTP_REQUESTS = Number(process.env.BENCH_CROWD_MAX_HTTP_REQUESTS ?? 2 * CONCURRENCY)
const POSTERS = 32
const MB = 1024 * 1024
const TARGETS = { ratio: 0.9, rssMb: 250, overheadP99Ms: 10 }

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

const dir = relayDir()
const relay = await startRelayProcess(
  benchEnv(dir, llm.url, {
    WORKER_CONCURRENCY: String(CONCURRENCY),
    BUN_CONFIG_MAX_HTTP_REQUESTS: String(HTTP_REQUESTS),
  }),
  { dir },
)
let rssMax = 0
const sampler = setInterval(() => {
  void relay.rssBytes().then((rss) => {
    rssMax = Math.max(rssMax, rss)
  })
}, 200)
try {
  const warned = readFileSync(join(dir, 'relay.log'), 'utf8').includes('BUN_CONFIG_MAX_HTTP_REQUESTS')
  // Warm-up: one wave, so the JIT has run the path and the LLM connections are open.
  note(`warm-up: ${CONCURRENCY} jobs`)
  const callbackUrl = `${sink.url}/hook`
  await postJobs({
    url: relay.url,
    callbackUrl,
    run: 'warm',
    jobs: CONCURRENCY,
    conversations: CONCURRENCY,
    posters: POSTERS,
  })
  await sink.waitFor(CONCURRENCY, 60_000)
  const idleRss = await relay.rssBytes()
  rssMax = 0

  note(
    `${JOBS} jobs over ${CONVERSATIONS} conversations, LLM ${LLM_MS} ms, WORKER_CONCURRENCY=${CONCURRENCY}`,
  )
  const cpuBefore = relay.cpuMs()
  const started = performance.now()
  const posted: Posted[] = await postJobs({
    url: relay.url,
    callbackUrl,
    run: 'crowd',
    jobs: JOBS,
    conversations: CONVERSATIONS,
    posters: POSTERS,
  })
  const intakeS = (performance.now() - started) / 1000
  await sink.waitFor(CONCURRENCY + JOBS, 30_000 + (4 * JOBS * LLM_MS) / CONCURRENCY)
  const last = Math.max(...posted.map((p) => callbackArrival.get(p.message) as number))
  const cpuMs = relay.cpuMs() - cpuBefore
  const ratio = JOBS / ((last - started) / 1000) / IDEAL_JOBS_PER_SEC
  const overheads = posted.map(
    (p) => (callbackArrival.get(p.message) as number) - (llmArrival.get(p.message) as number) - LLM_MS,
  )
  const p50 = median(overheads)
  const p99 = quantile(overheads, 0.99)
  const rssMb = rssMax / MB
  const result: BenchResult = {
    bench: 'crowd',
    jobs: JOBS,
    conversations: CONVERSATIONS,
    worker_concurrency: CONCURRENCY,
    llm_ms: LLM_MS,
    bun_config_max_http_requests: HTTP_REQUESTS,
    relay_warned_about_http_requests: warned,
    ratio: round(ratio),
    jobs_per_sec: round(ratio * IDEAL_JOBS_PER_SEC),
    intake_s: round(intakeS),
    done_s: round((last - started) / 1000),
    rss_max_mb: round(rssMb),
    rss_after_warmup_mb: round(idleRss / MB),
    overhead_p50_ms: round(p50),
    overhead_p90_ms: round(quantile(overheads, 0.9)),
    overhead_p99_ms: round(p99),
    overhead_max_ms: round(Math.max(...overheads)),
    relay_cpu_ms_per_job: round(cpuMs / JOBS),
    llm_max_in_flight: llm.maxInFlight,
    figures: [
      {
        what: '10 000 conversations: throughput',
        measured: `${round(ratio * IDEAL_JOBS_PER_SEC)} jobs/s, ${JOBS} jobs over ${CONVERSATIONS} conversations in ${round((last - started) / 1000)} s`,
        baseline: `ideal ${IDEAL_JOBS_PER_SEC} jobs/s (${CONCURRENCY} / ${LLM_MS / 1000} s)`,
        ratio: round(ratio),
        target: `≥ ${TARGETS.ratio}`,
        pass: ratio >= TARGETS.ratio,
      },
      {
        what: '10 000 conversations: memory',
        measured: `${round(rssMb)} MB RSS at most`,
        baseline: `after the warm-up wave: ${round(idleRss / MB)} MB`,
        ratio: null,
        target: `≤ ${TARGETS.rssMb} MB`,
        pass: rssMb <= TARGETS.rssMb,
      },
      {
        what: '10 000 conversations: overhead',
        measured: `p50 ${round(p50)} ms, p99 ${round(p99)} ms per job (LLM request received → callback received)`,
        baseline: `LLM latency ${LLM_MS} ms (subtracted)`,
        ratio: null,
        target: `p99 ≤ ${TARGETS.overheadP99Ms} ms`,
        pass: p99 <= TARGETS.overheadP99Ms,
      },
    ],
  }
  report(result)
} finally {
  clearInterval(sampler)
  await relay.stop()
  llm.stop()
  sink.stop()
}

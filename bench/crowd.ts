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
 * Beside it, in the same run and on the same load, the floor: bench/bare-relay.ts, which does
 * nothing but the two fetches per job (no store, no SDK, no order): what this machine allows.
 *
 * 2000 LLM calls plus their callbacks are more than the 256 requests Bun's fetch keeps open by
 * default (BUN_CONFIG_MAX_HTTP_REQUESTS, read once at start): the relay is run with the value
 * its start warning asks for, 2 × WORKER_CONCURRENCY, and the JSON line says whether it warned.
 * It runs with MEMORY_SOFT_LIMIT=230MB, what the README advises for a 256 MB budget
 * (BENCH_CROWD_MEMORY_SOFT_LIMIT=0: without it).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BenchResult, note, report } from './lib/figures.ts'
import { quick } from './lib/machine.ts'
import { type Posted, postJobs } from './lib/post-jobs.ts'
import { benchEnv, type RelayProcess, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { stampedOutsideWorld } from './lib/stamp.ts'
import { median, quantile, round } from './lib/stats.ts'

const LLM_MS = Number(process.env.BENCH_CROWD_LLM_MS ?? 2000)
const CONCURRENCY = Number(process.env.BENCH_CROWD_CONCURRENCY ?? 2000)
const JOBS = Number(process.env.BENCH_CROWD_JOBS ?? (quick() ? 2 * CONCURRENCY * 2 : 10 * CONCURRENCY))
const CONVERSATIONS = JOBS / 2
const IDEAL_JOBS_PER_SEC = CONCURRENCY / (LLM_MS / 1000)
const HTTP_REQUESTS = Number(process.env.BENCH_CROWD_MAX_HTTP_REQUESTS ?? 2 * CONCURRENCY)
const POSTERS = 32
const MEMORY_SOFT_LIMIT = process.env.BENCH_CROWD_MEMORY_SOFT_LIMIT ?? '230MB'
const MB = 1024 * 1024
const TARGETS = { ratio: 0.9, rssMb: 250, overheadP99Ms: 10 }

const { llm, sink, llmArrival, callbackArrival } = stampedOutsideWorld(LLM_MS)

interface CrowdRun {
  ratio: number
  doneS: number
  intakeS: number
  rssMaxMb: number
  rssAfterWarmupMb: number
  overheadP50: number
  overheadP90: number
  overheadP99: number
  overheadMax: number
  cpuMsPerJob: number
}

/** One run on a fresh process: a warm-up wave, then JOBS jobs as fast as it takes them. */
async function crowd(name: string, target: RelayProcess): Promise<CrowdRun> {
  let rssMax = 0
  const sampler = setInterval(() => {
    void target.rssBytes().then((rss) => {
      rssMax = Math.max(rssMax, rss)
    })
  }, 200)
  try {
    const callbackUrl = `${sink.url}/hook`
    note(`${name}: warm-up, ${CONCURRENCY} jobs`)
    const before = sink.received.length
    await postJobs({
      url: target.url,
      callbackUrl,
      run: `${name}-warm`,
      jobs: CONCURRENCY,
      conversations: CONCURRENCY,
      posters: POSTERS,
    })
    await sink.waitFor(before + CONCURRENCY, 60_000)
    const rssAfterWarmup = await target.rssBytes()
    rssMax = 0
    note(
      `${name}: ${JOBS} jobs over ${CONVERSATIONS} conversations, LLM ${LLM_MS} ms, ${CONCURRENCY} at once`,
    )
    const cpuBefore = target.cpuMs()
    const started = performance.now()
    const posted: Posted[] = await postJobs({
      url: target.url,
      callbackUrl,
      run: name,
      jobs: JOBS,
      conversations: CONVERSATIONS,
      posters: POSTERS,
    })
    const intakeS = (performance.now() - started) / 1000
    await sink.waitFor(before + CONCURRENCY + JOBS, 30_000 + (4 * JOBS * LLM_MS) / CONCURRENCY)
    const last = Math.max(...posted.map((p) => callbackArrival.get(p.message) as number))
    const overheads = posted.map(
      (p) => (callbackArrival.get(p.message) as number) - (llmArrival.get(p.message) as number) - LLM_MS,
    )
    return {
      ratio: JOBS / ((last - started) / 1000) / IDEAL_JOBS_PER_SEC,
      doneS: (last - started) / 1000,
      intakeS,
      rssMaxMb: rssMax / MB,
      rssAfterWarmupMb: rssAfterWarmup / MB,
      overheadP50: median(overheads),
      overheadP90: quantile(overheads, 0.9),
      overheadP99: quantile(overheads, 0.99),
      overheadMax: Math.max(...overheads),
      cpuMsPerJob: (target.cpuMs() - cpuBefore) / JOBS,
    }
  } finally {
    clearInterval(sampler)
    await target.stop()
  }
}

const env = benchEnv(relayDir(), llm.url, {
  WORKER_CONCURRENCY: String(CONCURRENCY),
  BUN_CONFIG_MAX_HTTP_REQUESTS: String(HTTP_REQUESTS),
  MEMORY_SOFT_LIMIT,
  ...(JSON.parse(process.env.BENCH_CROWD_ENV ?? '{}') as Record<string, string>),
})
try {
  const floorDir = relayDir()
  const floor = await crowd(
    'floor',
    await startRelayProcess(env, {
      dir: floorDir,
      command: [process.execPath, join(import.meta.dir, 'bare-relay.ts')],
    }),
  )
  const dir = relayDir()
  const relay = await startRelayProcess({ ...env, DATABASE_URL: `sqlite:${join(dir, 'relay.db')}` }, { dir })
  const warned = readFileSync(join(dir, 'relay.log'), 'utf8').includes('BUN_CONFIG_MAX_HTTP_REQUESTS')
  const run = await crowd('relay', relay)
  const r = (x: number) => round(x)
  const result: BenchResult = {
    bench: 'crowd',
    jobs: JOBS,
    conversations: CONVERSATIONS,
    worker_concurrency: CONCURRENCY,
    llm_ms: LLM_MS,
    bun_config_max_http_requests: HTTP_REQUESTS,
    relay_warned_about_http_requests: warned,
    memory_soft_limit: MEMORY_SOFT_LIMIT,
    ratio: r(run.ratio),
    jobs_per_sec: r(run.ratio * IDEAL_JOBS_PER_SEC),
    intake_s: r(run.intakeS),
    done_s: r(run.doneS),
    rss_max_mb: r(run.rssMaxMb),
    rss_after_warmup_mb: r(run.rssAfterWarmupMb),
    overhead_p50_ms: r(run.overheadP50),
    overhead_p90_ms: r(run.overheadP90),
    overhead_p99_ms: r(run.overheadP99),
    overhead_max_ms: r(run.overheadMax),
    relay_cpu_ms_per_job: r(run.cpuMsPerJob),
    floor_ratio: r(floor.ratio),
    floor_rss_max_mb: r(floor.rssMaxMb),
    floor_overhead_p50_ms: r(floor.overheadP50),
    floor_overhead_p99_ms: r(floor.overheadP99),
    floor_cpu_ms_per_job: r(floor.cpuMsPerJob),
    llm_max_in_flight: llm.maxInFlight,
    figures: [
      {
        what: '10 000 conversations: throughput',
        measured: `${r(run.ratio * IDEAL_JOBS_PER_SEC)} jobs/s, ${JOBS} jobs over ${CONVERSATIONS} conversations in ${r(run.doneS)} s`,
        baseline: `ideal ${IDEAL_JOBS_PER_SEC} jobs/s (${CONCURRENCY} / ${LLM_MS / 1000} s); the floor (fetch in, fetch out, nothing else) reached ${r(floor.ratio)}`,
        ratio: r(run.ratio),
        target: `≥ ${TARGETS.ratio}`,
        pass: run.ratio >= TARGETS.ratio,
      },
      {
        what: '10 000 conversations: memory',
        measured: `${r(run.rssMaxMb)} MB RSS at most (MEMORY_SOFT_LIMIT=${MEMORY_SOFT_LIMIT})`,
        baseline: `after the warm-up wave: ${r(run.rssAfterWarmupMb)} MB; the floor: ${r(floor.rssMaxMb)} MB`,
        ratio: null,
        target: `≤ ${TARGETS.rssMb} MB`,
        pass: run.rssMaxMb <= TARGETS.rssMb,
      },
      {
        what: '10 000 conversations: overhead',
        measured: `p50 ${r(run.overheadP50)} ms, p99 ${r(run.overheadP99)} ms per job (LLM request received → callback received, − ${LLM_MS} ms)`,
        baseline: `the floor on the same load: p50 ${r(floor.overheadP50)} ms, p99 ${r(floor.overheadP99)} ms`,
        ratio: null,
        target: `p99 ≤ ${TARGETS.overheadP99Ms} ms`,
        pass: run.overheadP99 <= TARGETS.overheadP99Ms,
      },
    ],
  }
  report(result)
} finally {
  llm.stop()
  sink.stop()
}

/**
 * Relay CPU per job, end to end: intake, claim, history, the LLM call, the stored answer, the
 * callback and its record. The relay runs on its default settings with a fake LLM that answers
 * at once; jobs over 1000 conversations are posted from 32 connections and every callback
 * waited for; the relay's user + system CPU time (/proc/<pid>/stat) before and after, ÷ the
 * jobs. The median of three rounds. No target but "lower than before" (docs/benchmarks.md).
 */
import { CallbackSink } from '../test/support/callback-sink.ts'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { quick } from './lib/machine.ts'
import { postJobs } from './lib/post-jobs.ts'
import { benchEnv, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { median, round } from './lib/stats.ts'

const JOBS = Number(process.env.BENCH_CPU_JOBS ?? (quick() ? 2000 : 4000))
const ROUNDS = 3
const CONVERSATIONS = 1000
const POSTERS = 32

const llm = new FakeLlm()
const sink = new CallbackSink()
const dir = relayDir()
const relay = await startRelayProcess(benchEnv(dir, llm.url), { dir })
try {
  const callbackUrl = `${sink.url}/hook`
  note('warm-up: 1000 jobs')
  await postJobs({
    url: relay.url,
    callbackUrl,
    run: 'warm',
    jobs: 1000,
    conversations: 1000,
    posters: POSTERS,
  })
  await sink.waitFor(1000, 60_000)
  let done = 1000
  const perJobUs: number[] = []
  for (let r = 1; r <= ROUNDS; r++) {
    note(`round ${r}/${ROUNDS}: ${JOBS} jobs over ${CONVERSATIONS} conversations, LLM instant`)
    const before = relay.cpuMs()
    await postJobs({
      url: relay.url,
      callbackUrl,
      run: `r${r}`,
      jobs: JOBS,
      conversations: CONVERSATIONS,
      posters: POSTERS,
    })
    done += JOBS
    await sink.waitFor(done, 120_000)
    perJobUs.push(((relay.cpuMs() - before) * 1000) / JOBS)
  }
  const us = median(perJobUs)
  const result: BenchResult = {
    bench: 'cpu-per-job',
    jobs: JOBS,
    rounds: perJobUs.map((u) => round(u)),
    relay_cpu_us_per_job: round(us),
    figures: [
      {
        what: 'relay CPU per job, end to end',
        measured: `${round(us)} µs (rounds: ${perJobUs.map((u) => round(u)).join(', ')})`,
        baseline: `${JOBS} jobs a round, fake LLM instant, default settings`,
        ratio: null,
        target: 'reported; lower than before',
        pass: true,
      },
    ],
  }
  report(result)
} finally {
  await relay.stop()
  llm.stop()
  sink.stop()
}

/**
 * The LLM over HTTPS with many calls at once, HTTP/1.1 against HTTP/2 (LLM_HTTP2). Bun's
 * fetch keeps at most 64 idle HTTP/1.1 connections per process, so at WORKER_CONCURRENCY=200
 * each wave of answers closes the connections beyond them and the next wave reconnects, a TLS
 * handshake each; over HTTP/2 every call shares one connection.
 *
 * An HTTPS fake LLM (test/support/tls-llm.ts: HTTP/2 and HTTP/1.1, as OpenRouter's CDN)
 * answering in 100 ms; two relays on the default settings but WORKER_CONCURRENCY=200 (and
 * BUN_CONFIG_MAX_HTTP_REQUESTS=400, as its start warning asks), one with LLM_HTTP2 off and one
 * with it on, trusting the test certificate through NODE_EXTRA_CA_CERTS. Rounds of 4000 jobs
 * over 1000 conversations from 32 connections, every callback awaited, the two relays in
 * turns: the relay's CPU per job (/proc/<pid>/stat), the TLS connections the LLM accepted,
 * and jobs/s. The figure: CPU per job on ÷ off, the median of each relay's rounds.
 */
import { CallbackSink } from '../test/support/callback-sink.ts'
import { startTlsLlm, TEST_CERT_PATH } from '../test/support/tls-llm.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { quick } from './lib/machine.ts'
import { postJobs } from './lib/post-jobs.ts'
import { benchEnv, type RelayProcess, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { median, round } from './lib/stats.ts'

const CONCURRENCY = 200
const LLM_MS = 100
const JOBS = quick() ? 2000 : 4000
const ROUNDS = quick() ? 1 : 3
const CONVERSATIONS = 1000
const POSTERS = 32

const llm = await startTlsLlm('http2', LLM_MS)
const sink = new CallbackSink()
const callbackUrl = `${sink.url}/hook`

interface Side {
  name: 'off' | 'on'
  relay: RelayProcess
  cpuUsPerJob: number[]
  connectionsPerJob: number[]
  jobsPerSec: number[]
}

async function start(name: Side['name']): Promise<Side> {
  const dir = relayDir()
  const env = benchEnv(dir, llm.url, {
    WORKER_CONCURRENCY: String(CONCURRENCY),
    BUN_CONFIG_MAX_HTTP_REQUESTS: String(2 * CONCURRENCY),
    LLM_HTTP2: name === 'on' ? 'true' : 'false',
    NODE_EXTRA_CA_CERTS: TEST_CERT_PATH,
  })
  return {
    name,
    relay: await startRelayProcess(env, { dir }),
    cpuUsPerJob: [],
    connectionsPerJob: [],
    jobsPerSec: [],
  }
}

let done = 0
async function round_(side: Side, run: string, jobs: number): Promise<void> {
  const cpu = side.relay.cpuMs()
  const connections = llm.connections()
  const started = performance.now()
  await postJobs({
    url: side.relay.url,
    callbackUrl,
    run,
    jobs,
    conversations: CONVERSATIONS,
    posters: POSTERS,
  })
  done += jobs
  await sink.waitFor(done, 120_000)
  const seconds = (performance.now() - started) / 1000
  if (run.startsWith('warm')) return
  side.cpuUsPerJob.push(((side.relay.cpuMs() - cpu) * 1000) / jobs)
  side.connectionsPerJob.push((llm.connections() - connections) / jobs)
  side.jobsPerSec.push(jobs / seconds)
}

const sides = [await start('off'), await start('on')]
try {
  for (const side of sides) {
    note(`warm-up, LLM_HTTP2 ${side.name}: 1000 jobs`)
    await round_(side, `warm-${side.name}`, 1000)
  }
  for (let r = 1; r <= ROUNDS; r++)
    for (const side of sides) {
      note(`round ${r}/${ROUNDS}, LLM_HTTP2 ${side.name}: ${JOBS} jobs, LLM over HTTPS in ${LLM_MS} ms`)
      await round_(side, `r${r}-${side.name}`, JOBS)
    }
  const [off, on] = sides as [Side, Side]
  const cpu = (s: Side) => median(s.cpuUsPerJob)
  const conns = (s: Side) => median(s.connectionsPerJob)
  const rate = (s: Side) => median(s.jobsPerSec)
  const ratio = cpu(on) / cpu(off)
  const line = (s: Side) =>
    `${round(cpu(s))} µs a job, ${round(conns(s))} new TLS connections a job, ${round(rate(s))} jobs/s`
  const result: BenchResult = {
    bench: 'llm-http2',
    worker_concurrency: CONCURRENCY,
    llm_ms: LLM_MS,
    jobs: JOBS,
    rounds: ROUNDS,
    off: {
      cpu_us_per_job: off.cpuUsPerJob.map(round),
      connections_per_job: off.connectionsPerJob.map(round),
      jobs_per_sec: off.jobsPerSec.map(round),
    },
    on: {
      cpu_us_per_job: on.cpuUsPerJob.map(round),
      connections_per_job: on.connectionsPerJob.map(round),
      jobs_per_sec: on.jobsPerSec.map(round),
    },
    ratio: round(ratio),
    figures: [
      {
        what: `LLM over HTTPS, ${CONCURRENCY} calls at once: LLM_HTTP2 on`,
        measured: line(on),
        baseline: `LLM_HTTP2 off (HTTP/1.1): ${line(off)}`,
        ratio: round(ratio),
        target: 'CPU per job < off',
        pass: ratio < 1,
      },
    ],
  }
  report(result)
} finally {
  for (const side of sides) await side.relay.stop()
  await llm.stop()
  sink.stop()
}

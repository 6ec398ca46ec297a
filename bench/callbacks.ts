/**
 * Callback connections: the relay POSTing callbacks to a receiver named by host name, through
 * its pinned client (the address the guard checked, no second lookup), with kept-alive
 * connections pooled per checked address (`PinnedAgents`) and, as the baseline, without (a new
 * connection per callback, as before). Loopback, plain http, one callback at a time. No target:
 * a section of docs/benchmarks.md.
 */
import { createServer } from 'node:http'
import { fetchPinned, PinnedAgents } from '../src/delivery/pinned-fetch.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { median, quantile, round } from './lib/stats.ts'

const CALLBACKS = Number(process.env.BENCH_CALLBACKS ?? 1000)

let connections = 0
const receiver = createServer((request, response) => {
  request.resume()
  request.on('end', () => response.end('ok'))
})
receiver.on('connection', () => connections++)
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
const port = (receiver.address() as { port: number }).port
// hooks.test never resolves (RFC 6761): every connection goes to the pinned address.
const url = `http://hooks.test:${port}/hook`
const body = JSON.stringify({ type: 'job.completed', data: { answer: 'Paris.' } })

async function run(agents: PinnedAgents | undefined) {
  connections = 0
  const times: number[] = []
  const cpu = process.cpuUsage()
  for (let i = 0; i < CALLBACKS; i++) {
    const started = performance.now()
    const response = await fetchPinned(url, '127.0.0.1', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      timeoutMs: 5000,
      ...(agents ? { agents } : {}),
    })
    await response.text()
    times.push(performance.now() - started)
  }
  const used = process.cpuUsage(cpu)
  return {
    p50_us: round(median(times) * 1000),
    p99_us: round(quantile(times, 0.99) * 1000),
    cpu_us_per_callback: round((used.user + used.system) / CALLBACKS),
    connections,
  }
}

note(`callbacks: ${CALLBACKS} to a host name, one at a time, pooled and not`)
await run(new PinnedAgents()) // warm-up
const fresh = await run(undefined)
const agents = new PinnedAgents()
const pooled = await run(agents)
agents.close()
receiver.close()

const result: BenchResult = {
  bench: 'callbacks',
  callbacks: CALLBACKS,
  fresh,
  pooled,
  figures: [],
  sections: [
    {
      title: 'Callback connections',
      markdown: [
        `${CALLBACKS} callbacks one after another to a receiver named by host name (loopback, http), through the pinned client; CPU of the sending process, receiver included.`,
        '',
        '| connections | per callback p50 / p99 | CPU per callback | connections opened |',
        '| --- | ---: | ---: | ---: |',
        `| a new one per callback (before) | ${fresh.p50_us} / ${fresh.p99_us} µs | ${fresh.cpu_us_per_callback} µs | ${fresh.connections} |`,
        `| kept alive per checked address (now) | ${pooled.p50_us} / ${pooled.p99_us} µs | ${pooled.cpu_us_per_callback} µs | ${pooled.connections} |`,
      ].join('\n'),
    },
  ],
}
report(result)
process.exit(0)

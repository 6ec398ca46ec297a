/**
 * Prefer: wait: what 1000 clients waiting at once cost the relay that holds them. Each client
 * is a raw TCP connection sending `POST /webhook` with `Prefer: wait=30`; the fake LLM holds
 * every call until the measurements are taken, then answers at once. WORKER_CONCURRENCY stays at
 * its default (16): 16 LLM calls run, the other 984 jobs queue, and all 1000 requests wait.
 *
 * Measured on the relay process that holds the requests, idle (before) and while all 1000 wait,
 * each for WINDOW_MS: resident memory, /health latency (one request at a time), CPU, and on
 * PostgreSQL the connections its pool holds and the statements it runs a second
 * (pg_stat_statements, on a PostgreSQL cluster of the benchmark's own so nothing else counts).
 * Then the LLM answers, and the 200s and 202s are counted.
 *
 * SQLite: one relay. PostgreSQL: a RELAY_ROLE=api instance holding the requests and a
 * RELAY_ROLE=worker instance answering, so every answer reaches the waiters through the store
 * (Store.settledAmong, one statement a second for all of them).
 */
import { connect } from 'node:net'
import { SQL } from 'bun'
import { CallbackSink } from '../test/support/callback-sink.ts'
import { echoAnswer, FakeLlm } from '../test/support/fake-llm.ts'
import { PostgresServer } from '../test/support/postgres-server.ts'
import { rawPost } from '../test/support/raw-http.ts'
import { type BenchResult, type Figure, note, report } from './lib/figures.ts'
import { benchEnv, type RelayProcess, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { quantile, round } from './lib/stats.ts'

const WAITERS = Number(process.env.BENCH_WAITERS ?? 1000)
const WINDOW_MS = Number(process.env.BENCH_WAIT_WINDOW_MS ?? 5000)
const WARM_UP = 20
const MB = 1024 * 1024

interface Sample {
  rssMb: number
  healthP50: number
  healthP99: number
  cpuMsPerS: number
  /** PostgreSQL: the pool's connections (open, and busy: not idle) and statements a second. */
  connections?: { open: number; busy: number }
  queriesPerS?: number
  settledAmongPerS?: number
}

interface Run {
  database: 'SQLite' | 'PostgreSQL'
  idle: Sample
  waiting: Sample
  waitingGauge: number
  inFlight: number
  ok: number
  accepted: number
  other: number
  /** From the LLM's release to the last response. */
  drainMs: number
}

/** An LLM that answers at once until `close()`; from then on every call waits for `open()`. */
function gatedLlm(): { llm: FakeLlm; close: () => void; open: () => void } {
  const llm = new FakeLlm()
  let open = () => {}
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  const close = () =>
    llm.next(
      ...Array.from({ length: WAITERS + 100 }, () => async (call: Parameters<typeof echoAnswer>[0]) => {
        await gate
        return echoAnswer(call)
      }),
    )
  return { llm, close, open }
}

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
}

/** /health one request at a time for `ms`: the event loop's responsiveness. */
async function healthLatencies(url: string, ms: number): Promise<number[]> {
  const times: number[] = []
  const end = performance.now() + ms
  while (performance.now() < end) {
    const started = performance.now()
    await (await fetch(`${url}/health`)).arrayBuffer()
    times.push(performance.now() - started)
    await Bun.sleep(5)
  }
  return times
}

interface Counters {
  /** pg_stat_statements calls of the waiting relay's role, all statements and settledAmong's. */
  statements(): Promise<{ all: number; settledAmong: number }>
  connections(): Promise<{ open: number; busy: number }>
}

async function sample(relay: RelayProcess, counters?: Counters): Promise<Sample> {
  const cpu = relay.cpuMs()
  const before = await counters?.statements()
  const started = performance.now()
  const health = await healthLatencies(relay.url, WINDOW_MS)
  const seconds = (performance.now() - started) / 1000
  const after = await counters?.statements()
  const connections = await counters?.connections()
  return {
    rssMb: round((await relay.rssBytes()) / MB),
    healthP50: round(quantile(health, 0.5)),
    healthP99: round(quantile(health, 0.99)),
    cpuMsPerS: round((relay.cpuMs() - cpu) / seconds),
    ...(before && after && connections
      ? {
          connections,
          queriesPerS: round((after.all - before.all) / seconds),
          settledAmongPerS: round((after.settledAmong - before.settledAmong) / seconds),
        }
      : {}),
  }
}

/**
 * One client on a connection of its own: sends the request, keeps the connection open (a
 * half-close reads as a client gone), and resolves with the status once the whole response is in.
 */
function post(url: string, bytes: string): Promise<number> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes))
    let raw = ''
    const status = () => Number(raw.split(' ')[1] ?? 0)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      raw += chunk
      const head = raw.indexOf('\r\n\r\n')
      if (head < 0) return
      const length = Number(/^content-length:\s*(\d+)/im.exec(raw.slice(0, head))?.[1] ?? 0)
      if (Buffer.byteLength(raw.slice(head + 4)) < length) return
      socket.destroy()
      resolve(status())
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(status()))
  })
}

/** `count` clients at once, each its own connection, each waiting up to 30 s. */
function sendWaiting(url: string, sinkUrl: string, count: number, tag: string): Promise<number[]> {
  const host = new URL(url).host
  return Promise.all(
    Array.from({ length: count }, (_, i) => {
      const body = { message: `${tag} ${i}`, callback_url: `${sinkUrl}/hook`, conversation_id: `${tag}-${i}` }
      // rawPost asks for `Connection: close`: the relay closes each connection after its response.
      return post(url, rawPost('/webhook', body, { host, headers: { Prefer: 'wait=30' } }))
    }),
  )
}

/** Warm-up, idle sample, 1000 waiting, waiting sample, release, count. */
async function measure(
  database: Run['database'],
  holder: RelayProcess,
  sinkUrl: string,
  gated: { close: () => void; open: () => void },
  counters?: Counters,
): Promise<Run> {
  // Warm-up, answered at once: the code paths, and the pool's connections, before the idle sample.
  note(`${database}: warm-up`)
  const warm = await sendWaiting(holder.url, sinkUrl, WARM_UP, 'warm')
  if (warm.some((s) => s !== 200)) throw new Error(`warm-up answered ${warm.join(' ')}`)
  const idle = await sample(holder, counters)
  note(`${database}: ${WAITERS} clients wait`)
  gated.close()
  const responses = sendWaiting(holder.url, sinkUrl, WAITERS, 'wait')
  const deadline = performance.now() + 60_000
  let waitingGauge = 0
  while (waitingGauge < WAITERS && performance.now() < deadline) {
    await Bun.sleep(100)
    waitingGauge = await gauge(holder.url, 'llm_relay_waiting_requests')
  }
  const inFlight = await gauge(holder.url, 'llm_relay_jobs_in_flight')
  // The accept burst's garbage, collected as it would be a moment later on a live server.
  await Bun.sleep(1000)
  const waiting = await sample(holder, counters)
  note(`${database}: the LLM answers`)
  const released = performance.now()
  gated.open()
  const statuses = await responses
  const drainMs = round(performance.now() - released)
  const count = (status: number) => statuses.filter((s) => s === status).length
  return {
    database,
    idle,
    waiting,
    waitingGauge,
    inFlight,
    ok: count(200),
    accepted: count(202),
    other: statuses.length - count(200) - count(202),
    drainMs,
  }
}

async function sqliteRun(): Promise<Run> {
  const gated = gatedLlm()
  const sink = new CallbackSink()
  const dir = relayDir()
  const relay = await startRelayProcess(benchEnv(dir, gated.llm.url), { dir })
  try {
    return await measure('SQLite', relay, sink.url, gated)
  } finally {
    await relay.stop()
    gated.llm.stop()
    sink.stop()
  }
}

async function postgresRun(): Promise<Run> {
  const server = await PostgresServer.start({ shared_preload_libraries: 'pg_stat_statements' })
  const admin = new SQL(server.url, { max: 1 })
  const gated = gatedLlm()
  const sink = new CallbackSink()
  const relays: RelayProcess[] = []
  try {
    await admin.unsafe('CREATE EXTENSION pg_stat_statements')
    await admin.unsafe('CREATE ROLE relay_api LOGIN SUPERUSER; CREATE ROLE relay_worker LOGIN SUPERUSER')
    const url = (role: string) =>
      `postgres://${role}@127.0.0.1:${server.port}/postgres?schema=relay&application_name=${role}`
    for (const [role, name] of [
      ['worker', 'relay_worker'],
      ['api', 'relay_api'],
    ] as const) {
      const dir = relayDir()
      relays.push(
        await startRelayProcess(benchEnv(dir, gated.llm.url, { DATABASE_URL: url(name), RELAY_ROLE: role }), {
          dir,
        }),
      )
    }
    const api = relays[1] as RelayProcess
    const counters: Counters = {
      async statements() {
        const rows = await admin.unsafe<{ query: string; calls: string }[]>(
          `SELECT s.query, s.calls FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
           WHERE r.rolname = 'relay_api'`,
        )
        const sum = (filter: (q: string) => boolean) =>
          rows.filter((r) => filter(r.query)).reduce((n, r) => n + Number(r.calls), 0)
        return { all: sum(() => true), settledAmong: sum((q) => q.includes('= ANY($1::text[])')) }
      },
      async connections() {
        const [row] = await admin.unsafe<{ open: string; busy: string }[]>(
          `SELECT COUNT(*) AS open, COUNT(*) FILTER (WHERE state <> 'idle') AS busy
           FROM pg_stat_activity WHERE usename = 'relay_api'`,
        )
        return { open: Number(row?.open ?? 0), busy: Number(row?.busy ?? 0) }
      },
    }
    return await measure('PostgreSQL', api, sink.url, gated, counters)
  } finally {
    for (const relay of relays) await relay.stop()
    gated.llm.stop()
    sink.stop()
    await admin.close()
    await server.remove()
  }
}

function figure(run: Run): Figure {
  const perWaiterKb = ((run.waiting.rssMb - run.idle.rssMb) * 1024) / WAITERS
  const healthRatio = run.waiting.healthP99 / run.idle.healthP99
  const pg = run.waiting.connections
  const db =
    pg && run.idle.connections
      ? `; DB connections ${run.waiting.connections?.open} open, ${pg.busy} busy (idle: ${run.idle.connections.open}, ${run.idle.connections.busy}); ${run.waiting.queriesPerS} statements/s, ${run.waiting.settledAmongPerS} of them settledAmong (idle: ${run.idle.queriesPerS}/s)`
      : ''
  const where =
    run.database === 'SQLite' ? 'SQLite, one relay' : 'PostgreSQL, api instance (a worker instance answers)'
  return {
    what: 'prefer-wait',
    measured: `${where}: ${run.waitingGauge} waiting, ${run.inFlight} jobs in flight: RSS ${run.waiting.rssMb} MB (+${round(perWaiterKb)} KB per waiter), /health p50 ${run.waiting.healthP50} ms p99 ${run.waiting.healthP99} ms, CPU ${run.waiting.cpuMsPerS} ms/s${db}; then ${run.ok}×200, ${run.accepted}×202${run.other ? `, ${run.other} other` : ''} within ${round(run.drainMs / 1000)} s of the answers`,
    baseline: `idle, same relay: RSS ${run.idle.rssMb} MB, /health p50 ${run.idle.healthP50} ms p99 ${run.idle.healthP99} ms, CPU ${run.idle.cpuMsPerS} ms/s`,
    ratio: round(healthRatio),
    target: `≤ 64 KB per waiter, /health p99 ≤ 3 × idle, every client 200${pg ? ', connections and statements/s not growing with waiters' : ''}`,
    pass:
      perWaiterKb <= 64 &&
      healthRatio <= 3 &&
      run.ok === WAITERS &&
      (pg === undefined ||
        (pg.open <= (run.idle.connections?.open ?? 0) &&
          pg.busy <= 1 &&
          (run.waiting.queriesPerS ?? 99) <= (run.idle.queriesPerS ?? 0) + 1.5)),
  }
}

const runs: Run[] = [await sqliteRun()]
let postgresSkipped: string | undefined
try {
  runs.push(await postgresRun())
} catch (error) {
  postgresSkipped = (error as Error).message.split('\n')[0]
  note(`PostgreSQL skipped: ${postgresSkipped}`)
}
/** One table, both databases side by side: idle, then while every client waits. */
function section(): { title: string; markdown: string } {
  const rows: [string, (s: Sample) => string][] = [
    ['RSS', (s) => `${s.rssMb} MB`],
    ['/health p50 / p99', (s) => `${s.healthP50} / ${s.healthP99} ms`],
    ['CPU', (s) => `${s.cpuMsPerS} ms/s`],
    [
      'DB connections open / busy',
      (s) => (s.connections ? `${s.connections.open} / ${s.connections.busy}` : '—'),
    ],
    [
      'DB statements/s (settledAmong)',
      (s) => (s.queriesPerS === undefined ? '—' : `${s.queriesPerS} (${s.settledAmongPerS})`),
    ],
  ]
  const head = runs.flatMap((r) => [`${r.database} idle`, `${r.database}, ${r.waitingGauge} waiting`])
  const lines = [
    `| | ${head.join(' | ')} |`,
    `| --- | ${head.map(() => '---:').join(' | ')} |`,
    ...rows.map(
      ([name, value]) =>
        `| ${name} | ${runs.flatMap((r) => [value(r.idle), value(r.waiting)]).join(' | ')} |`,
    ),
    `| answered | ${runs.flatMap((r) => ['', `${r.ok}×200, ${r.accepted}×202`]).join(' | ')} |`,
  ]
  return { title: `Prefer: wait, ${WAITERS} clients waiting`, markdown: lines.join('\n') }
}

const result: BenchResult = {
  bench: 'prefer-wait',
  sections: [section()],
  waiters: WAITERS,
  window_ms: WINDOW_MS,
  runs,
  ...(postgresSkipped ? { postgres_skipped: postgresSkipped } : {}),
  figures: runs.map(figure),
}
report(result)
process.exit(0)

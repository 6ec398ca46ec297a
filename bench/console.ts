/**
 * Console: each page of /console at a million jobs, answered in under 50 ms. The database is
 * filled straight (bench/lib/fill.ts), then aged: most jobs delivered over the past week, one in
 * two hundred dead, the newest still in line; the relay runs as its own process.
 */
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { FakeLlm } from '../test/support/fake-llm.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { fillQueue } from './lib/fill.ts'
import { benchEnv, relayDir, startRelayProcess } from './lib/relay-process.ts'
import { quantile, round } from './lib/stats.ts'

const JOBS = Number(process.env.BENCH_CONSOLE_JOBS ?? 1_000_000)
const RUNS = Number(process.env.BENCH_CONSOLE_RUNS ?? 30)
const TARGET_MS = 50
const OPEN = 1000
const WEEK = 7 * 86_400_000

const llm = new FakeLlm()
const dir = relayDir()
const path = join(dir, 'relay.db')
const now = Date.now()
note(`filling ${JOBS} jobs`)
const fillMs = await fillQueue(path, {
  jobs: JOBS,
  perConversation: 10,
  callbackUrl: 'http://127.0.0.1:9/hook',
  now,
})
const db = new Database(path, { strict: true })
const ageStarted = performance.now()
db.transaction(() => {
  // Acceptance spread over the week; everything but the newest OPEN jobs finished two seconds later.
  db.query(
    `UPDATE jobs SET created_at = ?1 - (?2 - seq) * (?3 / ?2), updated_at = ?1 - (?2 - seq) * (?3 / ?2)`,
  ).run(now, JOBS, WEEK)
  db.query(
    `UPDATE jobs SET status = CASE WHEN seq % 200 = 0 THEN 'dead' ELSE 'delivered' END, waiting = 0,
       response = 'Paris is the capital of France.', model = 'fake/model', llm_attempts = 1,
       delivery_attempts = CASE WHEN seq % 200 = 0 THEN 8 ELSE 1 END,
       error_code = CASE WHEN seq % 200 = 0 THEN 'callback_http_status' END,
       error_message = CASE WHEN seq % 200 = 0 THEN 'The callback answered 503.' END,
       updated_at = created_at + 2000, completed_at = created_at + 2000
     WHERE seq <= ?1`,
  ).run(JOBS - OPEN)
  // The open ones wait behind a head that never comes: counted as queued, never claimed.
  db.query('UPDATE jobs SET waiting = 1 WHERE seq > ?1').run(JOBS - OPEN)
  db.query('UPDATE conversations SET open_jobs = 0, last_message_at = ?1 - abs(random() % ?2)').run(now, WEEK)
})()
db.exec('ANALYZE')
db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
const sample = db
  .query<{ id: string; conversation_id: string }, []>(
    "SELECT id, conversation_id FROM jobs WHERE status = 'dead' ORDER BY seq DESC LIMIT 1",
  )
  .get()
if (!sample) throw new Error('no dead job in the filled database')
// The sampled conversation's history (the filled ones have counters, not messages).
const append = db.query(
  "INSERT INTO messages (owner, conversation_id, role, content, job_id, created_at) VALUES ('', ?1, ?2, ?3, ?4, ?5)",
)
for (let i = 0; i < 20; i++)
  append.run(
    sample.conversation_id,
    i % 2 ? 'assistant' : 'user',
    `message ${i} of the history`,
    `${sample.id}-${i >> 1}`,
    now - (20 - i) * 1000,
  )
db.close()
note(`filled in ${round(fillMs / 1000)} s, aged in ${round((performance.now() - ageStarted) / 1000)} s`)

const relay = await startRelayProcess(benchEnv(dir, llm.url), { dir })
const pages: [string, string][] = [
  ['overview', '/console'],
  ['jobs', '/console/jobs'],
  ['jobs, dead', '/console/jobs?status=dead'],
  ['jobs, a conversation', `/console/jobs?conversation_id=${sample.conversation_id}`],
  [
    'jobs, a day',
    `/console/jobs?created_after=${new Date(now - 3 * 86_400_000).toISOString()}&created_before=${new Date(now - 2 * 86_400_000).toISOString()}`,
  ],
  ['jobs, text search', '/console/jobs?q=capital%20of%20Spain'],
  ['dead letters', '/console/dead'],
  ['a job', `/console/jobs/${sample.id}`],
  ['conversations', '/console/conversations'],
  ['a conversation', `/console/conversations/${sample.conversation_id}`],
  ['jobs rows (htmx poll)', '/console/jobs/rows'],
]
const results: { page: string; p50: number; p95: number }[] = []
try {
  // One visitor's cookie, as a browser keeps it.
  const first = await fetch(`${relay.url}/console`)
  const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  await first.arrayBuffer()
  for (const [page, url] of pages) {
    const times: number[] = []
    for (let i = 0; i < RUNS + 5; i++) {
      const started = performance.now()
      const response = await fetch(`${relay.url}${url}`, { headers: { cookie } })
      await response.arrayBuffer()
      if (response.status !== 200) throw new Error(`${url}: ${response.status}`)
      if (i >= 5) times.push(performance.now() - started)
    }
    results.push({ page, p50: round(quantile(times, 0.5)), p95: round(quantile(times, 0.95)) })
    note(`${page}: p50 ${round(quantile(times, 0.5))} ms, p95 ${round(quantile(times, 0.95))} ms`)
  }
} finally {
  await relay.stop()
  llm.stop()
}

const slowest = results.reduce((a, b) => (b.p95 > a.p95 ? b : a))
const result: BenchResult = {
  bench: 'console',
  jobs: JOBS,
  pages: results,
  figures: [
    {
      what: 'console',
      measured: `slowest page p95 ${slowest.p95} ms (${slowest.page}), ${results.length} pages at ${JOBS.toLocaleString('en-US')} jobs`,
      baseline: '',
      ratio: null,
      target: `every page < ${TARGET_MS} ms`,
      pass: slowest.p95 < TARGET_MS,
    },
  ],
  sections: [
    {
      title: `Console pages at ${JOBS.toLocaleString('en-US')} jobs`,
      markdown: [
        '| page | p50 ms | p95 ms |',
        '| --- | ---: | ---: |',
        ...results.map((r) => `| ${r.page} | ${r.p50} | ${r.p95} |`),
      ].join('\n'),
    },
  ],
}
report(result)
process.exit(0)

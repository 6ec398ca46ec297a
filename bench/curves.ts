/**
 * How cost grows: intake and claim cost against queue depth (1k … 1M queued), and LLM-call
 * preparation (the history read) against history length, on the SQLite store directly.
 * Flat is the goal. Also prints the query plans of the claim and its neighbours.
 */
import { Database } from 'bun:sqlite'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { SqliteStore } from '../src/store/sqlite.ts'
import { SQLITE_STATEMENTS } from '../src/store/sqlite-statements.ts'
import type { NewJob } from '../src/store/store.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { fillQueue } from './lib/fill.ts'
import { relayDir } from './lib/relay-process.ts'
import { median, quantile, round } from './lib/stats.ts'

const DEPTHS = (process.env.BENCH_DEPTHS ?? '1000,10000,100000,1000000').split(',').map(Number)
const HISTORY_LENGTHS = [10, 100, 1_000, 10_000, 100_000]
const HISTORY_LIMIT = 20
const OPS = 200
const CALLBACK = 'http://127.0.0.1:9/hook'

/** The statements of the claim path, exactly as the store runs them, for EXPLAIN QUERY PLAN. */
const PLANNED: Record<string, string> = {
  'is a job due for the LLM?': SQLITE_STATEMENTS.llmDue,
  'claim, LLM stage': SQLITE_STATEMENTS.claimLlmStage,
  'is a callback due?': SQLITE_STATEMENTS.deliveryDue,
  'claim, delivery stage': SQLITE_STATEMENTS.claimDeliveryStage,
  'next wake-up': SQLITE_STATEMENTS.nextWakeAt,
  "end of a conversation's turn: the next in line": SQLITE_STATEMENTS.nextInLine,
  'history read': SQLITE_STATEMENTS.readHistory,
  'queue-depth metric (open jobs by status)': SQLITE_STATEMENTS.countOpen,
}

const us = (ms: number): number => round(ms * 1000)

async function timeEach(n: number, op: (i: number) => Promise<unknown> | unknown): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const started = performance.now()
    await op(i)
    times.push(performance.now() - started)
  }
  return times
}

function newJob(i: number, conversation: string): NewJob {
  return {
    id: `new-${i}`,
    owner: '',
    conversationId: conversation,
    message: `new message ${i}: What is the capital of France?`,
    callbackUrl: CALLBACK,
    model: 'fake/model',
    systemPrompt: 'You are a helpful assistant.',
    metadata: null,
    idempotencyKey: `key-${i}`,
    requestHash: 'bench',
    now: Date.now(),
  }
}

interface DepthRow {
  depth: number
  fill_s: number
  accept_us_p50: number
  accept_us_p99: number
  accept_batch_us_per_job: number
  claim_us_p50: number
  claim_us_p99: number
  due_query_us_p50: number
  count_open_ms: number
}

async function depthRow(depth: number): Promise<{ row: DepthRow; plans: string }> {
  const dir = relayDir()
  const path = join(dir, 'relay.db')
  try {
    note(`queue depth ${depth}: filling`)
    const fillMs = await fillQueue(path, {
      jobs: depth,
      perConversation: 10,
      callbackUrl: CALLBACK,
      now: Date.now(),
    })
    const store = new SqliteStore(path)
    const conversations = Math.ceil(depth / 10)
    const conversation = (i: number) => `fill-c${(i * 7919) % conversations}`
    note(`queue depth ${depth}: measuring`)
    const accept = await timeEach(OPS, (i) => store.acceptJob(newJob(i, conversation(i))))
    const batchStarted = performance.now()
    await Promise.all(
      Array.from({ length: OPS }, (_, i) => store.acceptJob(newJob(OPS + i, conversation(OPS + i)))),
    )
    const batchMs = (performance.now() - batchStarted) / OPS
    const claim = await timeEach(OPS, () =>
      store.claimJobs({ workerId: 'bench', now: Date.now(), leaseMs: 60_000, limit: 1, llmLimit: 1 }),
    )
    const counted = await timeEach(3, () => store.countOpenJobs())
    await store.close()

    const reader = new Database(path, { readonly: true })
    const due = reader.query(SQLITE_STATEMENTS.llmDue)
    const claimSelect = await timeEach(OPS, () => due.get(Date.now()))
    let plans = ''
    for (const [name, sql] of Object.entries(PLANNED)) {
      const rows = reader.query(`EXPLAIN QUERY PLAN ${sql}`).all() as {
        id: number
        parent: number
        detail: string
      }[]
      const depthOf = new Map<number, number>([[0, 0]])
      const lines = rows.map((r) => {
        const level = (depthOf.get(r.parent) ?? 0) + 1
        depthOf.set(r.id, level)
        return `${'  '.repeat(level - 1)}${r.detail}`
      })
      plans += `**${name}**\n\n\`\`\`sql\n${sql.replace(/\n\s+/g, '\n  ')}\n\`\`\`\n\n\`\`\`\n${lines.join('\n')}\n\`\`\`\n\n`
    }
    reader.close()
    return {
      row: {
        depth,
        fill_s: round(fillMs / 1000),
        accept_us_p50: us(median(accept)),
        accept_us_p99: us(quantile(accept, 0.99)),
        accept_batch_us_per_job: us(batchMs),
        claim_us_p50: us(median(claim)),
        claim_us_p99: us(quantile(claim, 0.99)),
        due_query_us_p50: us(median(claimSelect)),
        count_open_ms: round(median(counted)),
      },
      plans,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

interface HistoryRow {
  messages: number
  read_us_p50: number
  read_us_p99: number
}

async function historyRows(): Promise<HistoryRow[]> {
  const dir = relayDir()
  const path = join(dir, 'relay.db')
  try {
    await new SqliteStore(path).close()
    const db = new Database(path, { strict: true })
    const insert = db.query(
      `INSERT INTO messages (owner, conversation_id, role, content, job_id, created_at) VALUES ('', ?1, ?2, ?3, ?4, ?5)`,
    )
    note(`history: ${HISTORY_LENGTHS.join(', ')} messages`)
    db.transaction(() => {
      // Interleaved, as conversations grow side by side.
      const longest = Math.max(...HISTORY_LENGTHS)
      for (let i = 0; i < longest; i++)
        for (const length of HISTORY_LENGTHS) {
          if (i >= length) continue
          const role = i % 2 === 0 ? 'user' : 'assistant'
          insert.run(
            `h${length}`,
            role,
            `message ${i} of a conversation that goes on`,
            `h${length}-${i >> 1}`,
            i,
          )
        }
    })()
    db.close()
    const store = new SqliteStore(path)
    const rows: HistoryRow[] = []
    for (const length of HISTORY_LENGTHS) {
      await timeEach(20, () => store.readHistory('', `h${length}`, HISTORY_LIMIT))
      const times = await timeEach(OPS * 5, async () => {
        const history = await store.readHistory('', `h${length}`, HISTORY_LIMIT)
        const messages = [{ role: 'system', content: 'You are a helpful assistant.' }]
        for (const m of history) messages.push({ role: m.role, content: m.content })
        return messages
      })
      rows.push({ messages: length, read_us_p50: us(median(times)), read_us_p99: us(quantile(times, 0.99)) })
    }
    await store.close()
    return rows
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const depthRows: DepthRow[] = []
let plans = ''
for (const depth of DEPTHS) {
  const measured = await depthRow(depth)
  depthRows.push(measured.row)
  plans = measured.plans
}
const history = await historyRows()

const flatness = (values: number[]): number => round((values.at(-1) as number) / (values[0] as number))
const depthTable = [
  '| queued | fill (one transaction) | accept, one at a time p50 / p99 | accept, 200 at once, per job | claim one job p50 / p99 | "is a job due?" query p50 | count open jobs (metrics) |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...depthRows.map(
    (r) =>
      `| ${r.depth.toLocaleString('en')} | ${r.fill_s} s | ${r.accept_us_p50} / ${r.accept_us_p99} µs | ${r.accept_batch_us_per_job} µs | ${r.claim_us_p50} / ${r.claim_us_p99} µs | ${r.due_query_us_p50} µs | ${r.count_open_ms} ms |`,
  ),
].join('\n')
const historyTable = [
  `| messages in the conversation | history read (newest ${HISTORY_LIMIT}) + prompt assembly p50 / p99 |`,
  '| ---: | ---: |',
  ...history.map((r) => `| ${r.messages.toLocaleString('en')} | ${r.read_us_p50} / ${r.read_us_p99} µs |`),
].join('\n')

const result: BenchResult = {
  bench: 'curves',
  depths: depthRows,
  history,
  accept_growth: flatness(depthRows.map((r) => r.accept_us_p50)),
  claim_growth: flatness(depthRows.map((r) => r.claim_us_p50)),
  history_growth: flatness(history.map((r) => r.read_us_p50)),
  figures: [],
  sections: [
    { title: 'Cost against queue depth', markdown: depthTable },
    { title: 'LLM-call preparation against history length', markdown: historyTable },
    {
      title: `Query plans (EXPLAIN QUERY PLAN, ${DEPTHS.at(-1)?.toLocaleString('en')} queued)`,
      markdown: plans,
    },
  ],
}
report(result)

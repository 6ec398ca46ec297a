import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SQL } from 'bun'
import { PostgresStore } from '../src/store/postgres.ts'
import { POSTGRES_STATEMENTS } from '../src/store/postgres-statements.ts'
import { SqliteStore } from '../src/store/sqlite.ts'
import { SQLITE_STATEMENTS } from '../src/store/sqlite-statements.ts'
import { describeIf, dropSchema, freshSchema, POSTGRES_URL, postgres } from './support/postgres.ts'
import { LEASE, newJob, T0 } from './support/stores.ts'

/*
 * The statements on every job's path (claim, accept, history, the job read, the end of a
 * turn, a cancel and the check a running call makes every second) are index searches on both databases: their cost follows the rows they touch, never
 * the size of the queue or the finished history kept for RETENTION.
 */

const HOT = [
  'llmDue',
  'claimLlmStage',
  'deliveryDue',
  'claimDeliveryStage',
  'findByIdempotencyKey',
  'openConversationTurn',
  'accepted',
  'answered',
  'appendHistory',
  'endTurn',
  'nextInLine',
  'readHistory',
  'jobById',
  // A cancel, and what a running LLM call asks every second.
  'cancelTarget',
  'cancelledFromQueued',
  'cancelledFromProcessing',
  'cancelledFromDelivering',
  'leaveLine',
  'leaseHeld',
  // Tools over webhooks: the event's claim, the results, and the timeout sweep each claim round runs.
  'toolCallsDue',
  'claimToolCallsEvent',
  'toolCalls',
  'toolCallsDelivered',
  'toolResultsSubmitted',
  'toolResultsDue',
  'toolResultsTimedOut',
  // What an instance asks every second while `Prefer: wait` requests wait.
  'settledAmong',
] as const

const claimAll = (store: SqliteStore, now = T0) =>
  store.claimJobs({ workerId: 'w1', now, leaseMs: LEASE, limit: 100, llmLimit: 100 })

const dir = mkdtempSync(join(tmpdir(), 'relay-plans-'))
const schema = freshSchema('relay_plans')
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  if (postgres.available) await dropSchema(schema)
})

describe('SQLite: EXPLAIN QUERY PLAN', () => {
  const path = join(dir, 'plans.db')
  let db: Database

  test.each(HOT.filter((name) => name in SQLITE_STATEMENTS))('%s scans no table', async (name) => {
    if (!db) {
      await new SqliteStore(path).close()
      db = new Database(path, { readonly: true })
    }
    const sql = SQLITE_STATEMENTS[name as keyof typeof SQLITE_STATEMENTS]
    const plan = db
      .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${sql}`)
      .all()
      .map((row) => row.detail)
    // "SCAN jobs" reads every row; "SEARCH … USING INDEX" reads the matching ones. A scan of
    // json_each reads a parameter's array, not a table.
    expect({
      name,
      scans: plan.filter((d) => /^SCAN (?!CONSTANT ROW|json_each )/.test(d) && !/USING .*INDEX/.test(d)),
    }).toEqual({
      name,
      scans: [],
    })
    // The claim and the history read also need no sort of their own: the index gives the order.
    if (name.startsWith('claim') || name === 'readHistory')
      expect({ name, sorts: plan.filter((d) => d.includes('TEMP B-TREE')) }).toEqual({ name, sorts: [] })
  })
})

describe('SQLite: the queue-depth count among many finished jobs', () => {
  /** The jobs indexes with a WHERE clause: each holds only the open jobs it is named for. */
  function partialIndexes(db: Database): string[] {
    return db
      .query<{ name: string }, []>(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND sql LIKE '% WHERE %'",
      )
      .all()
      .map((row) => row.name)
  }

  /** The plan's lines that read jobs other than through one of the partial indexes. */
  function fullReads(db: Database): string[] {
    const partial = partialIndexes(db)
    return db
      .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${SQLITE_STATEMENTS.countOpen}`)
      .all()
      .map((row) => row.detail)
      .filter((d) => /^(SCAN|SEARCH) jobs\b/.test(d))
      .filter((d) => !partial.some((index) => new RegExp(`USING (COVERING )?INDEX ${index}\\b`).test(d)))
  }

  // The console's author saw this count read the whole jobs table, finished history included,
  // with an earlier index set once the statistics knew how many finished jobs there were.
  test('countOpenJobs reads only partial indexes, after PRAGMA optimize and after a full ANALYZE', async () => {
    const path = join(dir, 'queue-depth.db')
    const store = new SqliteStore(path)
    const accept = (conversationId: string) => store.acceptJob(newJob({ conversationId }))
    const attempt = { at: T0, statusCode: 200, error: null, durationMs: 1 }
    for (let i = 0; i < 1000; i++) await accept(`finished-${i}`)
    // The worker that answers a job holds its lease on, and makes the callback attempt itself.
    let settled = 0
    for (let claimed = await claimAll(store); claimed.length > 0; claimed = await claimAll(store))
      for (const job of claimed) {
        await store.recordAnswer(job.id, 'w1', { response: 'r', model: 'm', usage: null }, T0)
        const outcome = ++settled % 10 === 0 ? 'dead' : 'delivered'
        await store.recordDeliveryAttempt(job.id, 'w1', attempt, { status: outcome })
      }
    // A few open jobs of each kind the count reads: running, delivering, due and waiting.
    for (const name of ['running', 'delivering']) await accept(name)
    const [running, delivering] = await claimAll(store)
    if (!running || !delivering) throw new Error('not claimed')
    await store.recordAnswer(delivering.id, 'w1', { response: 'r', model: 'm', usage: null }, T0)
    await accept('running') // waits behind the running one
    await accept('due')
    expect(await store.countOpenJobs()).toEqual({
      queued: 2,
      processing: 1,
      awaiting_tool_results: 0,
      delivering: 1,
    })
    await store.maintain()
    await store.close()

    const db = new Database(path)
    try {
      expect(
        db
          .query<{ n: number }, []>("SELECT COUNT(*) AS n FROM jobs WHERE status IN ('delivered', 'dead')")
          .get()?.n,
      ).toBe(1000)
      expect(fullReads(db)).toEqual([])
      db.exec('ANALYZE')
      expect(fullReads(db)).toEqual([])
    } finally {
      db.close()
    }
  })
})

describeIf(postgres, 'PostgreSQL query plans')('PostgreSQL: EXPLAIN with sequential scans turned off', () => {
  const bytes = (text: string) => Buffer.from(text)
  /** Values of the right types for each statement's parameters. */
  const values: Record<(typeof HOT)[number], unknown[]> = {
    llmDue: [],
    deliveryDue: [],
    claimLlmStage: ['w1', T0 + 1000, T0, 10],
    claimDeliveryStage: ['w1', T0 + 1000, T0, 10],
    findByIdempotencyKey: ['owner', 'key'],
    openConversationTurn: ['owner', 'conv', T0],
    accepted: [
      'id',
      'owner',
      'conv',
      1,
      false,
      T0,
      bytes('m'),
      bytes('u'),
      bytes('m'),
      bytes('s'),
      null,
      'k',
      'h',
      null,
      null,
      null,
      null,
      'https://example.com',
    ],
    answered: [bytes('a'), bytes('m'), null, T0, 'id', 'w1', null, null],
    appendHistory: ['owner', 'conv', bytes('q'), 'id', T0, bytes('a'), T0, null, null, null],
    endTurn: ['owner', 'conv'],
    nextInLine: ['owner', 'conv'],
    readHistory: ['owner', 'conv', 20],
    jobById: ['id', 'owner'],
    cancelTarget: ['id', 'owner'],
    cancelledFromQueued: [T0, 'id', 'owner'],
    cancelledFromProcessing: [T0, 'id', 'owner'],
    cancelledFromDelivering: [T0, 'id', 'owner'],
    leaveLine: ['owner', 'conv'],
    leaseHeld: ['id', 'w1'],
    toolCallsDue: [],
    claimToolCallsEvent: ['w1', T0 + 1000, T0, 10],
    toolCalls: ['[]', null, T0, null, T0, 'id', 'w1'],
    toolCallsDelivered: [T0, 'id', 'w1', 1],
    toolResultsSubmitted: ['[]', T0, 'id', 'owner'],
    toolResultsDue: [T0],
    toolResultsTimedOut: ['tool_results_timeout', 'late', T0],
    settledAmong: [['id-1', 'id-2']],
  }

  /** The relations a plan reads with a sequential scan, anywhere in its tree. */
  function seqScans(node: unknown, found: string[] = []): string[] {
    if (Array.isArray(node)) for (const child of node) seqScans(child, found)
    else if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>
      if (record['Node Type'] === 'Seq Scan') found.push(String(record['Relation Name']))
      for (const value of Object.values(record)) seqScans(value, found)
    }
    return found
  }

  test.each(HOT.filter((name) => name in POSTGRES_STATEMENTS))('%s scans no table', async (name) => {
    await (await PostgresStore.open(POSTGRES_URL, { schema, max: 1 })).close()
    const sql = new SQL(POSTGRES_URL, { max: 1, connection: { search_path: schema } })
    try {
      // With sequential scans priced out, the planner still picks one only where no index serves.
      const plan = await sql.begin(async (tx) => {
        await tx`SET LOCAL enable_seqscan = off`
        const text = POSTGRES_STATEMENTS[name as keyof typeof POSTGRES_STATEMENTS]
        return tx.unsafe(`EXPLAIN (FORMAT JSON) ${text}`, values[name])
      })
      expect({ name, scans: seqScans(plan) }).toEqual({ name, scans: [] })
    } finally {
      await sql.close()
    }
  })
})

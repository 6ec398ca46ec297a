import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SQL, type TransactionSQL } from 'bun'
import { JOB_STATUSES } from '../src/job.ts'
import { conversationPageStatement } from '../src/store/conversation-listing.ts'
import {
  mergedKeysStatement,
  ownersStatement,
  redeliverMatchingSteps,
  redeliverRemainsStatement,
  searchWindowEndStatement,
  streamKeysStatement,
  streamsOf,
  summariesStatement,
  TEXT_SEARCH_WINDOW,
} from '../src/store/job-listing.ts'
import type { JobListQuery, JobPosition } from '../src/store/listing.ts'
import { type ListingDialect, runStepsNow, type Statement } from '../src/store/listing-sql.ts'
import { POSTGRES_LISTING, PostgresStore } from '../src/store/postgres.ts'
import { SQLITE_LISTING, SqliteStore } from '../src/store/sqlite.ts'
import type { Store } from '../src/store/store.ts'
import { dropSchema, freshSchema, POSTGRES_URL } from './support/postgres.ts'

/*
 * Every listing statement the stores run reads O(limit) rows a stream at scale, shown on
 * 100 000 jobs with a realistic skew (50 clients; 2 % dead; conversations of 10 messages).
 * SQLite: its EXPLAIN QUERY PLAN names the index each one searches, and nothing scans a
 * table or sorts one (a merge sorts only what its streams returned). PostgreSQL: EXPLAIN
 * ANALYZE counts the rows every node actually read.
 */

const JOBS = 100_000
const T0 = 1_700_000_000_000
const LIMIT = 50
/** Row i was accepted at T0 + 10 i; the middle of the table, for cursors and time ranges. */
const at = (i: number) => T0 + 10 * i
const middle: JobPosition = { createdAt: at(JOBS / 2), seq: JOBS / 2 }

// Row i is job-i with seq i. One owner per conversation (10 000 of them, 10 messages each),
// but `shared`, which three owners use.
const FILL_JOBS = (series: string, bytes: (e: string) => string, bool: (e: string) => string) => `
  INSERT INTO jobs (id, owner, conversation_id, sequence, status, waiting, available_at, message, callback_url,
    model, system_prompt, request_hash, created_at, updated_at)
  SELECT 'job-' || i, 'o' || (CASE WHEN i % 1000 = 7 THEN i % 3 ELSE i % 50 END),
    CASE WHEN i % 1000 = 7 THEN 'shared' ELSE 'c' || (i % 10000) END, i / 10000 + 1,
    CASE WHEN i % 50 = 3 THEN 'dead' WHEN i > ${JOBS - 100} THEN 'queued' ELSE 'delivered' END,
    ${bool('false')}, ${T0} + 10 * i,
    ${bytes(`CASE WHEN i = ${JOBS - 11_000} THEN 'the needle' ELSE 'message ' || i END`)}, ${bytes("'https://x'")},
    ${bytes("'m'")}, ${bytes("'s'")}, '', ${T0} + 10 * i, ${T0} + 10 * i
  FROM ${series}`
const FILL_CONVERSATIONS = `
  INSERT INTO conversations (owner, id, last_sequence, open_jobs, created_at, last_message_at)
  SELECT owner, conversation_id, COUNT(*), 0, MIN(created_at), MAX(created_at) FROM jobs
  GROUP BY owner, conversation_id`

interface Plans {
  name: string
  dialect: ListingDialect
  /**
   * Asserts that the statement reads at most `rows` rows in any scan of a table or index,
   * using `index` where named; `merges` allows a sort of what the scans returned.
   */
  check(statement: Statement, rows: number, index?: string, merges?: boolean): Promise<void>
  store(): Store
}

const dir = mkdtempSync(join(tmpdir(), 'relay-listing-plans-'))
const schema = freshSchema('relay_listing_plans')
const databases: { sqlite?: SqliteStore; sqliteRaw?: Database; postgres?: PostgresStore; pg?: SQL } = {}

beforeAll(async () => {
  const path = join(dir, 'plans.db')
  databases.sqlite = new SqliteStore(path)
  const raw = new Database(path)
  databases.sqliteRaw = raw
  raw.transaction(() => {
    raw.exec(
      FILL_JOBS(
        `(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${JOBS}) SELECT i FROM n)`,
        (e) => e,
        () => '0',
      ),
    )
    raw.exec(FILL_CONVERSATIONS)
  })()
  raw.exec('ANALYZE')

  databases.postgres = await PostgresStore.open(POSTGRES_URL, { schema, max: 2 })
  const pg = new SQL(POSTGRES_URL, { max: 1, connection: { search_path: schema } })
  databases.pg = pg
  await pg.unsafe(
    FILL_JOBS(
      `generate_series(1, ${JOBS}) AS i`,
      (e) => `convert_to(${e}, 'UTF8')`,
      (e) => e,
    ),
  )
  await pg.unsafe(FILL_CONVERSATIONS)
  await pg.unsafe('ANALYZE')
}, 120_000)

afterAll(async () => {
  await databases.sqlite?.close()
  databases.sqliteRaw?.close()
  await databases.postgres?.close()
  await databases.pg?.close()
  await dropSchema(schema)
  rmSync(dir, { recursive: true, force: true })
})

interface PgNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  'Actual Rows': number
  'Actual Loops': number
  'Rows Removed by Filter'?: number
  'Rows Removed by Index Recheck'?: number
  Plans?: PgNode[]
}
const nodesOf = (node: PgNode): PgNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)]

const plans: Plans[] = [
  {
    name: 'SQLite',
    dialect: SQLITE_LISTING,
    store: () => databases.sqlite as Store,
    async check(statement, _rows, index, merges = false) {
      const plan = (databases.sqliteRaw as Database)
        .query<{ detail: string }, never[]>(`EXPLAIN QUERY PLAN ${statement.sql}`)
        .all(...(statement.values as never[]))
        .map((r) => r.detail)
      const text = plan.join('\n')
      for (const line of plan.filter((l) => /\b(jobs|conversations|c)\b/.test(l) && !/subquery|CTE/.test(l)))
        expect(line, text).toMatch(/^SEARCH \w+ USING (COVERING |PRIMARY KEY|INTEGER PRIMARY KEY)?/)
      if (!merges) expect(text).not.toContain('TEMP B-TREE')
      if (index) expect(text).toMatch(new RegExp(`INDEX ${index}\\b`))
    },
  },
  {
    name: 'PostgreSQL',
    dialect: POSTGRES_LISTING,
    store: () => databases.postgres as Store,
    async check(statement, rows, _index, merges = false) {
      const explain = async (sql: SQL | TransactionSQL) => {
        const [row] = (await sql.unsafe(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${statement.sql}`,
          statement.values,
        )) as {
          'QUERY PLAN': [{ Plan: PgNode }]
        }[]
        const nodes = nodesOf((row as { 'QUERY PLAN': [{ Plan: PgNode }] })['QUERY PLAN'][0].Plan)
        return {
          nodes,
          plan: JSON.stringify(nodes.map((n) => [n['Node Type'], n['Index Name'], n['Actual Rows']])),
        }
      }
      // The planner's own choice never scans a table; on matches this few it may still read
      // them all into a sort (cheaper here), so the ordered plan, the one it takes once the
      // matches outnumber a page many times, is measured with bitmap scans and sorts off.
      const chosen = await explain(databases.pg as SQL)
      for (const node of chosen.nodes) expect(node['Node Type'], chosen.plan).not.toBe('Seq Scan')
      const { nodes, plan } = await (databases.pg as SQL).begin(async (tx) => {
        await tx.unsafe('SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off')
        const explained = await explain(tx)
        // EXPLAIN ANALYZE runs the statement: a write is rolled back with the transaction.
        await tx.unsafe('ROLLBACK')
        return explained
      })
      for (const node of nodes) {
        expect(node['Node Type'], plan).not.toBe('Seq Scan')
        if (!merges) expect(node['Node Type'], plan).not.toBe('Sort')
        if (node['Relation Name'] === undefined) continue
        const read =
          (node['Actual Rows'] +
            (node['Rows Removed by Filter'] ?? 0) +
            (node['Rows Removed by Index Recheck'] ?? 0)) *
          node['Actual Loops']
        expect(read, plan).toBeLessThanOrEqual(rows)
      }
    },
  },
]

describe.each(plans)('$name', (p) => {
  const bound = LIMIT + 1
  const stream = (
    query: Omit<JobListQuery, 'limit'>,
    owner: string,
    status?: 'dead' | 'queued' | 'delivered',
  ) => streamKeysStatement(p.dialect, { owner, status }, query, bound)
  const owners = Array.from({ length: 50 }, (_, i) => `o${i}`)

  test('GET /jobs for a client: one index range of `limit` keys a status, first page or later', async () => {
    for (const status of ['delivered', 'dead', 'queued'] as const) {
      await p.check(stream({ owner: 'o7' }, 'o7', status), bound, 'jobs_owner_status_created')
      await p.check(stream({ owner: 'o7', after: middle }, 'o7', status), bound, 'jobs_owner_status_created')
    }
    const query = { owner: 'o7' }
    expect(streamsOf(['o7'], query)).toHaveLength(JOB_STATUSES.length)
    await p.check(
      mergedKeysStatement(p.dialect, streamsOf(['o7'], query), query, bound),
      bound,
      undefined,
      true,
    )
  })

  test('GET /jobs for an admin: every owner found by a seek each, then their streams merged', async () => {
    await p.check(ownersStatement(p.dialect), owners.length + 1)
    const query = { owner: undefined, statuses: ['dead' as const], after: middle }
    await p.check(
      mergedKeysStatement(p.dialect, streamsOf(owners, query), query, bound),
      bound,
      undefined,
      true,
    )
    const all = { owner: undefined }
    const merged = mergedKeysStatement(p.dialect, streamsOf(owners.slice(0, 20), all), all, bound)
    await p.check(merged, bound, 'jobs_owner_status_created', true)
    const seqs = Array.from({ length: LIMIT }, (_, i) => JOBS - i)
    await p.check(summariesStatement(p.dialect, seqs), LIMIT)
  })

  test('GET /jobs?conversation_id: one range for each owner', async () => {
    await p.check(
      stream({ owner: 'o1', conversationId: 'shared' }, 'o1'),
      bound,
      'jobs_owner_conversation_created',
    )
    const dead = { owner: 'o1', conversationId: 'c101', statuses: ['dead' as const], after: middle }
    await p.check(stream(dead, 'o1'), bound, 'jobs_owner_conversation_created')
    const everyone = { owner: undefined, conversationId: 'shared' }
    expect(streamsOf(owners, everyone)).toHaveLength(50)
    await p.check(
      mergedKeysStatement(p.dialect, streamsOf(owners, everyone), everyone, bound),
      bound,
      undefined,
      true,
    )
  })

  test('GET /jobs?created_after&created_before: a range inside the same indexes', async () => {
    const range = { owner: 'o7', createdAfter: at(20_000), createdBefore: at(30_000) }
    await p.check(stream(range, 'o7', 'delivered'), bound, 'jobs_owner_status_created')
    await p.check(stream({ ...range, after: { createdAt: at(25_000), seq: 25_000 } }, 'o7', 'dead'), bound)
  })

  test('GET /jobs?q reads at most its window: the window’s end from the index, the page inside it', async () => {
    const query = { owner: 'o0', text: 'needle' }
    await p.check(
      searchWindowEndStatement(p.dialect, { owner: 'o0', status: 'delivered' }, query),
      TEXT_SEARCH_WINDOW,
    )
    const end: JobPosition = {
      createdAt: at(JOBS - 50 * TEXT_SEARCH_WINDOW),
      seq: JOBS - 50 * TEXT_SEARCH_WINDOW,
    }
    const windowed = streamKeysStatement(p.dialect, { owner: 'o0', status: 'delivered' }, query, bound, end)
    await p.check(windowed, TEXT_SEARCH_WINDOW + 1, 'jobs_owner_status_created')
  })

  test('a text search finds an old match by following next_cursor, each page bounded', async () => {
    const store = p.store()
    // Owner o0's delivered jobs are every 50th: 11 000 rows back is 220 of them, so the
    // window is made small by a time range, and its pages step through it.
    const query = { owner: 'o0', text: 'the needle', createdAfter: at(JOBS - 12_000) }
    const found = []
    let page = await store.listJobs({ ...query, limit: 10 })
    for (;;) {
      found.push(...page.jobs.map((j) => [j.id, j.messagePreview]))
      if (!page.next) break
      page = await store.listJobs({ ...query, limit: 10, after: page.next })
    }
    expect(found).toEqual([[`job-${JOBS - 11_000}`, 'the needle']])
  })

  test('POST /jobs/redeliver: each owner’s batch and what remains, by index', async () => {
    for (const filter of [
      { owner: undefined, status: 'dead' },
      { owner: 'o3', status: 'dead' },
      { owner: undefined, status: 'dead', createdAfter: at(10_000) },
    ] as const) {
      // The statements a redelivery runs, recorded (nothing written here), then explained.
      const statements: Statement[] = []
      runStepsNow(
        redeliverMatchingSteps(p.dialect, filter, 1000, T0),
        (s) => {
          statements.push(s)
          return s.sql.includes('WITH RECURSIVE owners') ? owners.map((owner) => ({ owner })) : [{ more: 0 }]
        },
        (s) => {
          statements.push(s)
          return 20
        },
      )
      expect(statements.length).toBeGreaterThan(1)
      for (const s of statements) {
        const index = s.sql.includes('WITH RECURSIVE') ? undefined : 'jobs_owner_status_created'
        await p.check(s, 1000, index, s.sql.includes('UNION'))
      }
    }
    const remains = redeliverRemainsStatement(p.dialect, owners, { owner: undefined, status: 'dead' })
    await p.check(remains, 1, 'jobs_owner_status_created', true)
  })

  test('GET /conversations: one range for each owner', async () => {
    const after = { lastMessageAt: at(JOBS / 2), owner: 'o9', id: 'c5009' }
    await p.check(
      conversationPageStatement(p.dialect, ['o9'], after, bound),
      bound,
      'conversations_owner_active',
      true,
    )
    await p.check(
      conversationPageStatement(p.dialect, owners, after, bound),
      bound,
      'conversations_owner_active',
      true,
    )
    await p.check(conversationPageStatement(p.dialect, owners, undefined, bound), bound, undefined, true)
    const listed = await p.store().listConversations({ owner: undefined, limit: 5 })
    expect(listed.conversations.map((c) => c.lastMessageAt)).toEqual([
      at(JOBS),
      at(JOBS - 1),
      at(JOBS - 2),
      at(JOBS - 3),
      at(JOBS - 4),
    ])
  })
})

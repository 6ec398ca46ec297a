import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SQL } from 'bun'
import { JOB_STATUSES } from '../src/job.ts'
import { PostgresStore } from '../src/store/postgres.ts'
import { postgresMigrations } from '../src/store/postgres-migrations.ts'
import { SqliteStore } from '../src/store/sqlite.ts'
import { sqliteMigrations } from '../src/store/sqlite-migrations.ts'
import { describeIf, dropSchema, freshSchema, POSTGRES_URL, postgres } from './support/postgres.ts'
import { newJob, T0 } from './support/stores.ts'

/*
 * The schema as the migrations leave it: the CHECK on jobs.status allows exactly the
 * statuses of the transition table, and a database made by an earlier release keeps every
 * row and index through the migrations that add it.
 */

const dir = mkdtempSync(join(tmpdir(), 'relay-migrations-'))
const schemas: string[] = []
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  await Promise.all(schemas.map(dropSchema))
})

const sortedStatuses = [...JOB_STATUSES].sort()
/** The quoted names in a CHECK's text, e.g. `status IN ('a', 'b')` or `ARRAY['a'::text, …]`. */
const quotedIn = (text: string): string[] =>
  [...text.matchAll(/'([a-z_]+)'/g)].map((m) => m[1] as string).sort()

/** The statuses release 1 wrote; later ones came with the migrations that allow them. */
const RELEASE_1_STATUSES = ['queued', 'processing', 'delivering', 'delivered', 'dead'] as const

/** One job row per status, as release 1 wrote them, with a history message and an attempt. */
const STATUS_ROWS = RELEASE_1_STATUSES.map((status, i) => ({
  seq: 100 + i,
  id: `old-${status}`,
  status,
  waiting: status === 'queued' ? 1 : 0,
  lease: status === 'processing' || status === 'delivering' ? 'old-worker' : null,
}))

describe('SQLite', () => {
  const indexesOf = (db: Database) =>
    db
      .query<{ name: string; sql: string }, []>(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL ORDER BY name",
      )
      .all()

  test('the CHECK on jobs.status allows exactly JOB_STATUSES', async () => {
    const path = join(dir, 'check.db')
    const store = new SqliteStore(path)
    await store.acceptJob(newJob({ id: 'probe' }))
    await store.close()
    const db = new Database(path)
    const table = db.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE name = 'jobs'").get()
    const check = /CHECK \(status IN \(([^)]*)\)\)/.exec(table?.sql ?? '')?.[1] ?? ''
    expect(quotedIn(check)).toEqual(sortedStatuses)
    for (const status of JOB_STATUSES)
      db.query('UPDATE jobs SET status = ? WHERE id = ?').run(status, 'probe')
    expect(() => db.query("UPDATE jobs SET status = 'lost' WHERE id = 'probe'").run()).toThrow(
      /CHECK constraint/,
    )
    db.close()
  })

  test('a release-1 database keeps its rows, indexes and job numbering through the migrations', async () => {
    const path = join(dir, 'release-1.db')
    const old = new Database(path, { strict: true })
    old.exec('PRAGMA journal_mode = WAL')
    old.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    )
    const first = sqliteMigrations.find((m) => m.version === 1)
    if (!first) throw new Error('no migration 1')
    old.exec(first.sql)
    old.query('INSERT INTO schema_migrations VALUES (1, ?, ?)').run(first.name, T0)
    old.query("INSERT INTO conversations VALUES ('owner-a', 'old', 5, 2, ?)").run(T0)
    for (const [i, r] of STATUS_ROWS.entries()) {
      old
        .query(
          `INSERT INTO jobs (seq, id, owner, conversation_id, sequence, status, waiting, available_at, lease_owner,
             message, callback_url, model, system_prompt, metadata, response, error_code, error_message, usage,
             llm_attempts, delivery_attempts, delivery_failures, idempotency_key, request_hash, created_at,
             updated_at, completed_at)
           VALUES (?, ?, 'owner-a', 'old', ?, ?, ?, ?, ?, 'hello', 'https://example.com/h', 'm', 'sys', '{"k":1}',
             'answer', NULL, NULL, '{"total_tokens":3}', 1, ?, 0, ?, 'hash', ?, ?, NULL)`,
        )
        .run(r.seq, r.id, i + 1, r.status, r.waiting, T0 + i, r.lease, i, `key-${i}`, T0, T0 + i)
    }
    old
      .query(
        "INSERT INTO messages (owner, conversation_id, role, content, job_id, created_at) VALUES ('owner-a', 'old', 'user', 'hello', 'old-delivered', ?)",
      )
      .run(T0)
    old
      .query("INSERT INTO delivery_attempts VALUES ('old-dead', 1, ?, 500, 'callback_http_status', '500', 3)")
      .run(T0)
    // Jobs up to seq 900 were accepted once and purged since: the numbering must not go back.
    old.exec("UPDATE sqlite_sequence SET seq = 900 WHERE name = 'jobs'")
    const rowsBefore = old.query('SELECT * FROM jobs ORDER BY seq').all() as Record<string, unknown>[]
    old.close()

    const store = new SqliteStore(path)
    const db = new Database(path, { readonly: true })
    // Every column a release-1 row had is kept as it was; later migrations only add columns.
    const columnsBefore = (rows: unknown[]) =>
      rows.map((row) =>
        Object.fromEntries(
          Object.keys(rowsBefore[0] as object).map((k) => [k, (row as Record<string, unknown>)[k]]),
        ),
      )
    expect(columnsBefore(db.query('SELECT * FROM jobs ORDER BY seq').all())).toEqual(rowsBefore)
    expect(db.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
    const fresh = new SqliteStore(join(dir, 'fresh.db'))
    await fresh.close()
    const freshDb = new Database(join(dir, 'fresh.db'), { readonly: true })
    expect(indexesOf(db)).toEqual(indexesOf(freshDb))
    expect(indexesOf(db).map((i) => i.name)).toContain('jobs_llm_due')
    freshDb.close()

    // The old rows work as before: the dead job shows why it died, the new job comes after seq 900.
    expect((await store.getJob('old-dead', 'owner-a', T0 + 10))?.error?.code).toBe('callback_http_status')
    const created = await store.acceptJob(newJob({ id: 'after-upgrade' }))
    expect(created.kind).toBe('created')
    expect(db.query<{ seq: number }, []>("SELECT seq FROM jobs WHERE id = 'after-upgrade'").get()?.seq).toBe(
      901,
    )
    expect(await store.readHistory('owner-a', 'old', 10)).toHaveLength(1)
    db.close()
    await store.close()
  })

  test('the rebuild that allows cancelled keeps the columns added since release 1', async () => {
    const path = join(dir, 'before-cancelled.db')
    const old = new Database(path, { strict: true })
    old.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    )
    const cancelled = sqliteMigrations.find((m) => m.name.includes('cancelled'))
    if (!cancelled) throw new Error('no migration for cancelled')
    for (const m of sqliteMigrations.filter((m) => m.version < cancelled.version)) {
      old.exec(m.sql)
      old.query('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, T0)
    }
    old.exec(`INSERT INTO jobs (id, owner, conversation_id, sequence, status, waiting, available_at, message,
        callback_url, model, system_prompt, request_hash, created_at, updated_at, llm_parameters, output,
        rejected_answer, prompt_tokens)
      VALUES ('j', 'o', 'c', 1, 'queued', 0, ${T0}, 'hi', 'https://example.com/h', 'm', 's', 'h', ${T0}, ${T0},
        '{"temperature":0.2}', '{"a":1}', '{"answer":"x","problem":"y"}', 42)`)
    const before = old.query('SELECT * FROM jobs').all() as Record<string, unknown>[]
    old.close()

    await new SqliteStore(path).close()
    const db = new Database(path)
    // Migrations after it add columns of their own: each column there was keeps its value.
    const columns = Object.keys(before[0] ?? {})
    const after = db.query('SELECT * FROM jobs').all() as Record<string, unknown>[]
    expect(after.map((row) => Object.fromEntries(columns.map((c) => [c, row[c]])))).toEqual(before)
    db.exec("UPDATE jobs SET status = 'cancelled'")
    expect(db.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
    db.close()
  })
})

describeIf(postgres, 'PostgreSQL migrations')('PostgreSQL', () => {
  const connect = (schema: string) => new SQL(POSTGRES_URL, { max: 1, connection: { search_path: schema } })

  test('the CHECK on jobs.status allows exactly JOB_STATUSES', async () => {
    const schema = freshSchema('relay_check')
    schemas.push(schema)
    await (await PostgresStore.open(POSTGRES_URL, { schema, max: 1 })).close()
    const sql = connect(schema)
    try {
      const [row] = await sql<{ def: string }[]>`
        SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = 'jobs'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%status%'`
      expect(quotedIn(row?.def ?? '')).toEqual(sortedStatuses)
    } finally {
      await sql.close()
    }
  })

  test('a release-1 database keeps its rows through the migrations, and unknown statuses are refused after', async () => {
    const schema = freshSchema('relay_upgrade')
    schemas.push(schema)
    const sql = connect(schema)
    try {
      await sql.unsafe(`CREATE SCHEMA ${schema}`)
      await sql`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`
      for (const m of postgresMigrations.filter((m) => m.version <= 2)) {
        await sql.unsafe(m.sql)
        await sql`INSERT INTO schema_migrations VALUES (${m.version}, ${m.name}, ${T0})`
      }
      for (const [i, r] of STATUS_ROWS.entries()) {
        await sql`
          INSERT INTO jobs (seq, id, owner, conversation_id, sequence, status, waiting, available_at, lease_owner,
            message, callback_url, model, system_prompt, request_hash, created_at, updated_at)
          VALUES (${r.seq}, ${r.id}, 'owner-a', 'old', ${i + 1}, ${r.status}, ${r.waiting === 1}, ${T0 + i},
            ${r.lease}, ${Buffer.from('hello')}, ${Buffer.from('https://example.com/h')}, ${Buffer.from('m')},
            ${Buffer.from('sys')}, 'hash', ${T0}, ${T0 + i})`
      }
      const before = await sql`SELECT * FROM jobs ORDER BY seq`

      const store = await PostgresStore.open(POSTGRES_URL, { schema, max: 1 })
      // Every column a release-1 row had is kept as it was; later migrations only add columns.
      const keep = Object.keys(before[0] as object)
      const after = (await sql`SELECT * FROM jobs ORDER BY seq`) as Record<string, unknown>[]
      expect(after.map((row) => Object.fromEntries(keep.map((k) => [k, row[k]])))).toEqual(before)
      expect((await store.getJob('old-processing', 'owner-a', T0))?.status).toBe('processing')
      await store.close()
      await expect(
        sql`UPDATE jobs SET status = 'lost' WHERE id = 'old-queued'`.then(() => 'updated'),
      ).rejects.toThrow(/check constraint/)
    } finally {
      await sql.close()
    }
  })
})

import { afterAll, afterEach } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PostgresStore } from '../../src/store/postgres.ts'
import { SqliteStore } from '../../src/store/sqlite.ts'
import type { NewJob, Store } from '../../src/store/store.ts'
import { dropSchemas, freshSchema, POSTGRES_URL, postgres, reportUnavailable } from './postgres.ts'

/*
 * Both store adapters on real databases, for the tests that hold them to one contract. Every
 * `fresh()` database is a SQLite file or a PostgreSQL schema of its own, because claims take
 * any due job; `open()` may be called again for another instance on the same database.
 */

export interface TestDatabase {
  /** A new store instance (its own connections) on this database. */
  open(): Promise<Store>
  /** The SQLite file, or the PostgreSQL schema. */
  where: string
}

export interface StoreAdapter {
  name: 'SqliteStore' | 'PostgresStore'
  fresh(): TestDatabase
  dispose(): Promise<void>
}

export function sqliteAdapter(): StoreAdapter {
  const dir = mkdtempSync(join(tmpdir(), 'relay-store-'))
  let n = 0
  return {
    name: 'SqliteStore',
    fresh() {
      const path = join(dir, `store-${++n}.db`)
      return { where: path, open: async () => new SqliteStore(path) }
    },
    async dispose() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export function postgresAdapter(): StoreAdapter {
  const schemas: string[] = []
  return {
    name: 'PostgresStore',
    fresh() {
      const schema = freshSchema('relay_store')
      schemas.push(schema)
      return { where: schema, open: () => PostgresStore.open(POSTGRES_URL, { schema, max: 4 }) }
    },
    async dispose() {
      await dropSchemas(schemas.splice(0))
    },
  }
}

/**
 * The adapters a contract file runs on: SQLite always, PostgreSQL when it answers (otherwise
 * the one line of reportUnavailable for `suite`, so the SQLite half still runs). Their files
 * and schemas go after the file's last test.
 */
export function storeAdapters(suite: string): StoreAdapter[] {
  const adapters = [sqliteAdapter()]
  if (postgres.available) adapters.push(postgresAdapter())
  else reportUnavailable(postgres, suite)
  afterAll(async () => {
    for (const adapter of adapters) await adapter.dispose()
  })
  return adapters
}

/** The stores a test opens (push them here), closed after each test so none outlives its test. */
export function closedAfterEach(): Store[] {
  const opened: Store[] = []
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()))
  })
  return opened
}

export const T0 = 1_700_000_000_000
export const LEASE = 30_000
let counter = 0

export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  const n = ++counter
  return {
    id: `job-${n}`,
    owner: 'owner-a',
    conversationId: 'conv-1',
    message: `message ${n}`,
    callbackUrl: 'https://example.com/hook',
    model: 'fake/model',
    systemPrompt: 'Answer briefly.',
    metadata: null,
    idempotencyKey: null,
    requestHash: `hash-${n}`,
    now: T0,
    ...overrides,
  }
}

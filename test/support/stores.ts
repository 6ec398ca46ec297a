import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PostgresStore } from '../../src/store/postgres.ts'
import { SqliteStore } from '../../src/store/sqlite.ts'
import type { NewJob, Store } from '../../src/store/store.ts'
import { dropSchema, freshSchema, POSTGRES_URL } from './postgres.ts'

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
      await Promise.all(schemas.map(dropSchema))
    },
  }
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

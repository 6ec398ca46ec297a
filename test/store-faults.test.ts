import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PostgresStore } from '../src/store/postgres.ts'
import { SqliteStore } from '../src/store/sqlite.ts'
import { StoreUnavailableError } from '../src/store/store.ts'
import {
  describeIf,
  dropSchema,
  freshSchema,
  POSTGRES_URL,
  postgres,
  postgresServerBinaries,
  reportUnavailable,
} from './support/postgres.ts'
import { PostgresServer } from './support/postgres-server.ts'
import { runCommand } from './support/process.ts'
import { newJob } from './support/stores.ts'

/*
 * Faults of the database itself reject with StoreUnavailableError (HTTP answers 503, the
 * worker retries), and the store works again once the database does, with no restart.
 * Constraint violations and bugs are not faults. Each fault is real: a full tmpfs, a write
 * lock held by another connection, a PostgreSQL server of the test's own that is stopped.
 */

const dir = mkdtempSync(join(tmpdir(), 'relay-faults-'))
const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  rmSync(dir, { recursive: true, force: true })
})

const settled = (promises: Promise<unknown>[]) => Promise.allSettled(promises)
const rejections = (results: PromiseSettledResult<unknown>[]) =>
  results.map((r) => (r.status === 'rejected' ? (r.reason as Error).constructor.name : 'fulfilled'))

/** A 4 MB tmpfs of our own (root only); undefined where mounting is not allowed. */
function smallDisk(): string | undefined {
  const mount = join(dir, 'disk')
  mkdirSync(mount)
  const { exitCode } = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount], {
    stderr: 'ignore',
  })
  if (exitCode !== 0) return undefined
  cleanups.push(() => {
    Bun.spawnSync(['umount', mount])
  })
  return mount
}
const disk = smallDisk()

/** Takes every free block of the file system `where` is on; returns how to give them back. */
function fill(where: string): () => void {
  const filler = join(where, 'filler')
  mkdirSync(filler)
  let n = 0
  for (const size of [256 * 1024, 4096, 512])
    try {
      for (;;) writeFileSync(join(filler, `${n++}`), Buffer.alloc(size, 1))
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOSPC') throw error
    }
  return () => rmSync(filler, { recursive: true, force: true })
}

describe('SQLite', () => {
  // Needs root for the mount; the file-size-limit test below covers the same path without it.
  test.if(disk !== undefined)(
    'disk full (a tmpfs): every write of the batch fails as unavailable, ping says so, and all works again once space is back',
    async () => {
      if (!disk) throw new Error('no tmpfs')
      const store = new SqliteStore(join(disk, 'relay.db'))
      cleanups.push(() => store.close())
      expect((await store.acceptJob(newJob({ id: 'before' }))).kind).toBe('created')
      expect(await store.ping()).toBe(true)

      const giveBack = fill(disk)
      // One batch (one turn of the event loop), each big enough to need new pages.
      const big = 'x'.repeat(64 * 1024)
      const batch = await settled(
        Array.from({ length: 4 }, (_, i) => store.acceptJob(newJob({ id: `full-${i}`, message: big }))),
      )
      expect(rejections(batch)).toEqual(Array(4).fill('StoreUnavailableError'))
      expect((batch[0] as PromiseRejectedResult).reason.message).toContain('SQLITE_FULL')
      expect(await store.ping()).toBe(false)
      // Reads still answer, also one asked for in the same turn as a failing write, and
      // nothing of the failed batch was written.
      const [failing, read] = await settled([
        store.acceptJob(newJob({ id: 'full-4', message: big })),
        store.getJob('before', 'owner-a', 0),
      ])
      expect(rejections([failing as PromiseSettledResult<unknown>])).toEqual(['StoreUnavailableError'])
      expect(read).toMatchObject({ status: 'fulfilled', value: { status: 'queued' } })
      expect(await store.getJob('full-0', 'owner-a', 0)).toBeUndefined()
      expect((await store.getJob('before', 'owner-a', 0))?.status).toBe('queued')

      giveBack()
      expect(await store.ping()).toBe(true)
      expect((await store.acceptJob(newJob({ id: 'full-0', message: big }))).kind).toBe('created')
      expect((await store.countOpenJobs()).queued).toBe(2)
    },
  )

  test('a write lock held past busy_timeout is unavailable, not a bug; ping says so; a constraint violation is neither', async () => {
    const path = join(dir, 'busy.db')
    const store = new SqliteStore(path, { busyTimeoutMs: 50 })
    cleanups.push(() => store.close())
    await store.acceptJob(newJob({ id: 'first' }))
    const other = new Database(path)
    other.exec('BEGIN IMMEDIATE')
    await expect(store.acceptJob(newJob())).rejects.toBeInstanceOf(StoreUnavailableError)
    expect(await store.ping()).toBe(false)
    other.exec('ROLLBACK')
    other.close()
    expect(await store.ping()).toBe(true)
    expect((await store.acceptJob(newJob({ id: 'second' }))).kind).toBe('created')

    const duplicate = await store.acceptJob(newJob({ id: 'first' })).catch((error: unknown) => error)
    expect(duplicate).not.toBeInstanceOf(StoreUnavailableError)
    expect((duplicate as { code?: string }).code).toBe('SQLITE_CONSTRAINT_UNIQUE')
  })

  test('a file-size limit (RLIMIT_FSIZE, in a process of its own): the batch fails as unavailable, the store stays usable', async () => {
    // bash counts `ulimit -f` in KiB; SIGXFSZ ignored, so an oversized write fails with EFBIG instead of killing.
    const child = join(import.meta.dir, 'support', 'file-size-limit-child.ts')
    const { code, out, err } = await runCommand([
      'bash',
      '-c',
      `ulimit -f 2048 && trap '' XFSZ && exec "${process.execPath}" "${child}" "${join(dir, 'limited.db')}"`,
    ])
    expect({ code, err: code === 0 ? '' : err }).toEqual({ code: 0, err: '' })
    expect(JSON.parse(out)).toEqual({
      before: 'created',
      batch: Array(4).fill('StoreUnavailableError'),
      after: 'created',
    })
  })

  test('a database that cannot be opened is unavailable', () => {
    // A folder where the file should be: SQLITE_CANTOPEN, whoever runs the test.
    mkdirSync(join(dir, 'a-folder.db'))
    expect(() => new SqliteStore(join(dir, 'a-folder.db'))).toThrow(StoreUnavailableError)
  })
})

if (!postgresServerBinaries.available)
  reportUnavailable(postgresServerBinaries, 'store faults: a stopped PostgreSQL')
if (!postgres.available) reportUnavailable(postgres, 'store faults: PostgreSQL constraint violations')

describeIf(postgresServerBinaries)('PostgreSQL server of our own', () => {
  test('a stopped server makes every call unavailable and ping false at once; started again, the pool reconnects by itself', async () => {
    const server = await PostgresServer.start()
    cleanups.push(() => server.remove())
    const store = await PostgresStore.open(server.url, { max: 2 })
    cleanups.push(() => store.close().catch(() => {}))
    expect((await store.acceptJob(newJob({ id: 'before' }))).kind).toBe('created')
    expect(await store.ping()).toBe(true)

    await server.stop()
    const during = await settled([
      store.acceptJob(newJob()),
      store.getJob('before', 'owner-a', 0),
      store.claimJobs({ workerId: 'w', now: 0, leaseMs: 1000, limit: 1, llmLimit: 1 }),
    ])
    expect(rejections(during)).toEqual(Array(3).fill('StoreUnavailableError'))
    expect(await store.ping()).toBe(false)

    await server.restart()
    expect(await store.ping()).toBe(true)
    expect((await store.acceptJob(newJob({ id: 'after' }))).kind).toBe('created')
    expect((await store.getJob('before', 'owner-a', 0))?.status).toBe('queued')
  }, 60_000)
})

describeIf(postgres)('PostgreSQL', () => {
  test('a constraint violation is not a fault of the database', async () => {
    const schema = freshSchema('relay_faults')
    cleanups.push(() => dropSchema(schema))
    const store = await PostgresStore.open(POSTGRES_URL, { schema, max: 1 })
    cleanups.push(() => store.close())
    await store.acceptJob(newJob({ id: 'once' }))
    const duplicate = await store.acceptJob(newJob({ id: 'once' })).catch((error: unknown) => error)
    expect(duplicate).not.toBeInstanceOf(StoreUnavailableError)
    expect((duplicate as { errno?: string }).errno).toBe('23505')
  })
})

import { afterAll, afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteStore } from '../src/store/sqlite.ts'
import type { Store } from '../src/store/store.ts'
import { describeIf, postgres } from './support/postgres.ts'
import { LEASE, newJob, postgresAdapter, T0 } from './support/stores.ts'

/*
 * The leases of a worker known to be dead are expired at once, not after JOB_LEASE; a live
 * worker's never are. SQLite knows from a lock every worker process holds while it runs;
 * PostgreSQL from a heartbeat row per instance.
 */

const dir = mkdtempSync(join(tmpdir(), 'relay-recovery-'))
const pgStores = postgresAdapter()
const opened: Store[] = []
const children: ReturnType<typeof Bun.spawn>[] = []
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
  await Promise.all(opened.splice(0).map((s) => s.close()))
})
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  await pgStores.dispose()
})

/** A worker process holding two leases on `path` (test/support/lease-holder-child.ts), once it says so. */
async function leaseHolder(path: string): Promise<ReturnType<typeof Bun.spawn>> {
  const child = Bun.spawn(
    [process.execPath, join(import.meta.dir, 'support', 'lease-holder-child.ts'), path],
    {
      stdout: 'pipe',
      stderr: 'inherit',
    },
  )
  children.push(child)
  const reader = child.stdout.getReader()
  const { value } = await reader.read()
  reader.releaseLock()
  expect(JSON.parse(new TextDecoder().decode(value))).toEqual({ ready: true, recovered: 0 })
  return child
}

const sqlite = (path: string): SqliteStore => {
  const store = new SqliteStore(path)
  opened.push(store)
  return store
}

describe('SQLite', () => {
  test('a worker process killed with leases: the next to start expires them at once, attempts kept', async () => {
    const path = join(dir, 'killed.db')
    const child = await leaseHolder(path)
    child.kill('SIGKILL')
    await child.exited

    const store = sqlite(path)
    const now = T0 + 1000 // long before the lease would run out
    expect(await store.recoverAbandonedLeases('next-worker', now, 8000)).toBe(2)
    expect(await store.getJob('at-the-llm', 'owner-a', now)).toMatchObject({
      status: 'queued',
      llmAttempts: 1,
    })
    const claimed = await store.claimJobs({
      workerId: 'next-worker',
      now,
      leaseMs: LEASE,
      limit: 5,
      llmLimit: 5,
    })
    expect(claimed.map((j) => [j.id, j.status, j.llmAttempts]).sort()).toEqual([
      ['at-the-callback', 'delivering', 1],
      ['at-the-llm', 'processing', 2],
    ])
    // Once per process: the leases taken since are this worker's own.
    expect(await store.recoverAbandonedLeases('next-worker', now, 8000)).toBe(0)
  })

  test('while another worker process is alive on the file, nothing of it is released', async () => {
    const path = join(dir, 'shared.db')
    const child = await leaseHolder(path)
    const store = sqlite(path)
    expect(await store.recoverAbandonedLeases('second-worker', T0 + 1000, 8000)).toBe(0)
    expect((await store.getJob('at-the-llm', 'owner-a', T0 + 1000))?.status).toBe('processing')
    expect(
      await store.claimJobs({
        workerId: 'second-worker',
        now: T0 + 1000,
        leaseMs: LEASE,
        limit: 5,
        llmLimit: 5,
      }),
    ).toEqual([])
    child.kill('SIGKILL')
    await child.exited
  })

  test('two stores of one process on one file: the second finds the first alive', async () => {
    const path = join(dir, 'one-process.db')
    const first = sqlite(path)
    expect(await first.recoverAbandonedLeases('w1', T0, 8000)).toBe(0)
    await first.acceptJob(newJob({ id: 'mine' }))
    await first.claimJobs({ workerId: 'w1', now: T0, leaseMs: LEASE, limit: 1, llmLimit: 1 })
    const second = sqlite(path)
    expect(await second.recoverAbandonedLeases('w2', T0 + 1, 8000)).toBe(0)
    expect((await second.getJob('mine', 'owner-a', T0 + 1))?.status).toBe('processing')
  })
})

describeIf(postgres, 'lease recovery on PostgreSQL')('PostgreSQL', () => {
  const open = async (db: { open(): Promise<Store> }) => {
    const store = await db.open()
    opened.push(store)
    return store
  }
  const SILENT = 8000

  test('an instance silent for longer than silentForMs loses its leases, once; a live one never', async () => {
    const db = pgStores.fresh()
    const [a, b, c] = [await open(db), await open(db), await open(db)]
    /** One round of Liveness: a heartbeat, then recovery. */
    const round = async (store: Store, id: string, now: number) => {
      await store.heartbeat(id, now, SILENT)
      return store.recoverAbandonedLeases(id, now, SILENT)
    }
    expect(await a.heartbeat('a', T0, SILENT)).toBe(false) // a new row
    expect(await b.heartbeat('b', T0, SILENT)).toBe(false)
    expect(await c.heartbeat('c', T0, SILENT)).toBe(false)
    expect(await b.heartbeat('b', T0 + 1, SILENT)).toBe(true)
    await a.acceptJob(newJob({ id: 'j1', conversationId: 'c1' }))
    await a.acceptJob(newJob({ id: 'j2', conversationId: 'c2' }))
    await a.claimJobs({ workerId: 'a', now: T0, leaseMs: LEASE, limit: 2, llmLimit: 2 })
    await a.recordAnswer('j2', 'a', { response: 'r', model: 'm', usage: null }, T0)

    expect(await round(b, 'b', T0 + SILENT)).toBe(0)
    await a.heartbeat('a', T0 + 5000, SILENT)
    await c.heartbeat('c', T0 + 5000, SILENT)
    expect(await round(b, 'b', T0 + 5000 + SILENT)).toBe(0)

    // a stops beating. Two instances recover at the same moment: each lease is expired once.
    const now = T0 + 5001 + SILENT
    const counts = await Promise.all([round(b, 'b', now), round(c, 'c', now)])
    expect(counts.sort()).toEqual([0, 2])
    expect(await round(b, 'b', now)).toBe(0)
    expect(await b.getJob('j1', 'owner-a', now)).toMatchObject({ status: 'queued', llmAttempts: 1 })
    const taken = await b.claimJobs({ workerId: 'b', now, leaseMs: LEASE, limit: 5, llmLimit: 5 })
    expect(taken.map((j) => j.id).sort()).toEqual(['j1', 'j2'])

    // a comes back: it learns it was presumed dead, and its writes for those jobs are refused.
    expect(await a.heartbeat('a', now + 1, SILENT)).toBe(false)
    expect(
      await a.recordAnswer('j1', 'a', { response: 'late', model: 'm', usage: null }, now + 1),
    ).toBeUndefined()
    // b never recovers itself.
    expect(await b.recoverAbandonedLeases('b', now + 100 * SILENT, SILENT)).toBe(0)
  })

  test('after an outage of the database, the first instance back does not take the jobs of the others', async () => {
    const db = pgStores.fresh()
    const [a, b] = [await open(db), await open(db)]
    for (let t = T0; t <= T0 + 20_000; t += 2000) {
      await a.heartbeat('a', t, SILENT)
      await b.heartbeat('b', t, SILENT)
    }
    await a.acceptJob(newJob({ id: 'in-flight' }))
    // A lease that outlasts the test: only recovery could take the job.
    await a.claimJobs({ workerId: 'a', now: T0 + 20_000, leaseMs: 3_600_000, limit: 1, llmLimit: 1 })
    // The database is away for 30 s; b reaches it first, a two seconds later.
    const back = T0 + 50_000
    await b.heartbeat('b', back, SILENT)
    expect(await b.recoverAbandonedLeases('b', back, SILENT)).toBe(0)
    await a.heartbeat('a', back + 2000, SILENT)
    for (let t = back + 2000; t <= back + 3 * SILENT; t += 2000) {
      await a.heartbeat('a', t, SILENT)
      await b.heartbeat('b', t, SILENT)
      expect(await b.recoverAbandonedLeases('b', t, SILENT)).toBe(0)
    }
    expect((await b.getJob('in-flight', 'owner-a', back))?.status).toBe('processing')
    // Once b has beaten for SILENT without a gap, a silence of a is taken for what it is.
    const later = back + 3 * SILENT + 2000 + SILENT
    await b.heartbeat('b', later - SILENT, SILENT)
    await b.heartbeat('b', later, SILENT)
    expect(await b.recoverAbandonedLeases('b', later, SILENT)).toBe(1)
  })
})

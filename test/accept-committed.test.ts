import { afterEach, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteStore } from '../src/store/sqlite.ts'
import type { Job } from '../src/store/store.ts'
import { newJob } from './support/stores.ts'

/*
 * A claim at accept on SQLite: the worker hears of the job as its accept commits, before the
 * WAL is synced and the accept's promise settles, so that its LLM call goes out while the disk
 * syncs. A replay under the same Idempotency-Key commits nothing and is not heard of.
 */

let dir: string | undefined
let store: SqliteStore | undefined
afterEach(async () => {
  await store?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
  store = undefined
  dir = undefined
})

test('the job accepted already claimed is handed over at its commit, before its accept settles; a replay is not', async () => {
  dir = mkdtempSync(join(tmpdir(), 'llm-relay-accept-'))
  store = new SqliteStore(join(dir, 'relay.db'))
  const order: string[] = []
  const heard: Job[] = []
  const claimBy = {
    workerId: 'w1',
    leaseMs: 60_000,
    committed: (job: Job) => {
      order.push('committed')
      heard.push(job)
    },
  }
  const job = newJob({ idempotencyKey: 'key-1', claimBy })
  const first = await store.acceptJob(job).then((result) => {
    order.push('accept settled')
    return result
  })
  expect(order).toEqual(['committed', 'accept settled'])
  expect(first.kind).toBe('created')
  expect(heard.map((j) => [j.id, j.status, j.llmAttempts])).toEqual([[first.job.id, 'processing', 1]])
  const replay = await store.acceptJob({ ...job, id: 'another-id' })
  expect(replay.kind).toBe('existing')
  expect(heard).toHaveLength(1)
})

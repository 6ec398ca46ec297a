import { describe, expect, test } from 'bun:test'
import type { ToolRound } from '../src/answer/tool-rounds.ts'
import type { Job, NewJob, Store } from '../src/store/store.ts'
import { describeIf, postgres } from './support/postgres.ts'
import { closedAfterEach, LEASE, newJob, postgresAdapter, storeAdapters, T0 } from './support/stores.ts'

/*
 * Store.settledAmong on both adapters, real databases: the one read `Prefer: wait` makes a
 * second for every job waited on in a process, whichever process answers them.
 */

const adapters = storeAdapters('PostgresStore settledAmong')
const opened = closedAfterEach()

const answer = { response: 'an answer', model: 'm', usage: null }
const failure = { code: 'llm_auth' as const, message: 'refused' }
const sorted = (ids: string[]) => [...ids].sort()

describe.each(adapters)('$name', (adapter) => {
  async function openStore(): Promise<Store> {
    const store = await adapter.fresh().open()
    opened.push(store)
    return store
  }
  async function accept(store: Store, overrides: Partial<NewJob> = {}): Promise<Job> {
    return (await store.acceptJob(newJob({ conversationId: `c-${Math.random()}`, ...overrides }))).job
  }
  const claim = (store: Store, limit: number, now = T0) =>
    store.claimJobs({ workerId: 'w1', now, leaseMs: LEASE, limit, llmLimit: limit })

  test('answered, failed, delivered, dead and cancelled jobs are settled; queued and processing ones are not', async () => {
    const store = await openStore()
    const [processing, answered, failed, delivered, dead] = await Promise.all(
      Array.from({ length: 5 }, () => accept(store)),
    )
    if (!processing || !answered || !failed || !delivered || !dead) throw new Error('not accepted')
    expect((await claim(store, 5)).length).toBe(5)
    const queued = await accept(store)
    const cancelled = await accept(store)
    expect(await store.cancelJob(cancelled.id, cancelled.owner, T0)).toMatchObject({ kind: 'cancelled' })
    for (const job of [answered, delivered, dead]) await store.recordAnswer(job.id, 'w1', answer, T0)
    await store.recordLlmFailure(failed.id, 'w1', failure, T0)
    const attempt = { at: T0, statusCode: 200, error: null, durationMs: 1 }
    await store.recordDeliveryAttempt(delivered.id, 'w1', attempt, { status: 'delivered' })
    await store.recordDeliveryAttempt(dead.id, 'w1', { ...attempt, statusCode: 500 }, { status: 'dead' })

    const all = [queued, processing, answered, failed, delivered, dead, cancelled].map((j) => j.id)
    expect(sorted(await store.settledAmong([...all, 'no-such-job']))).toEqual(
      sorted([answered.id, failed.id, delivered.id, dead.id, cancelled.id]),
    )
    expect(await store.settledAmong([queued.id, processing.id])).toEqual([])
    expect(await store.settledAmong([])).toEqual([])
  })

  test('a job awaiting tool results is settled (Prefer: wait answers with the calls); queued again with its results, it is not', async () => {
    const store = await openStore()
    const job = await accept(store)
    await claim(store, 1)
    const round: ToolRound = {
      content: '',
      calls: [{ id: 'call_1', name: 'get_order', arguments: '{}' }],
      results: null,
      calledAt: T0,
      answeredAt: null,
      llmAttempts: 1,
    }
    await store.recordToolCalls(job.id, 'w1', { rounds: [round], usage: null, resultsDueAt: T0 + LEASE }, T0)
    expect(await store.settledAmong([job.id])).toEqual([job.id])
    const submitted = await store.submitToolResults(
      job.id,
      job.owner,
      [{ tool_call_id: 'call_1', content: 'ok' }],
      T0,
    )
    expect(submitted.kind).toBe('queued')
    expect(await store.settledAmong([job.id])).toEqual([])
  })

  test('a processing job whose lease ran out is not settled; answered by the next worker, it is', async () => {
    const store = await openStore()
    const job = await accept(store)
    await claim(store, 1)
    const later = T0 + LEASE + 1
    expect(await store.settledAmong([job.id])).toEqual([])
    expect((await claim(store, 1, later)).map((j) => j.id)).toEqual([job.id])
    await store.recordAnswer(job.id, 'w1', answer, later)
    expect(await store.settledAmong([job.id])).toEqual([job.id])
  })

  test('a thousand ids in one call, whoever owns them, odd characters included', async () => {
    const store = await openStore()
    const odd = await accept(store, { id: `it's, "odd" {x} \\ ${'é'}`, owner: 'owner-b' })
    const jobs = await Promise.all(Array.from({ length: 999 }, () => accept(store)))
    const claimed = await claim(store, 1000)
    expect(claimed.length).toBe(1000)
    const answeredIds = [odd.id, ...jobs.filter((_, i) => i % 3 === 0).map((j) => j.id)]
    for (const id of answeredIds) await store.recordAnswer(id, 'w1', answer, T0)
    const settled = await store.settledAmong([odd.id, ...jobs.map((j) => j.id)])
    expect(sorted(settled)).toEqual(sorted(answeredIds))
  })
})

describeIf(postgres)('PostgresStore instances', () => {
  test('a job answered through one instance is settled as another reads it', async () => {
    const db = postgresAdapter()
    try {
      const where = db.fresh()
      const [api, worker] = [await where.open(), await where.open()]
      opened.push(api, worker)
      const job = (await api.acceptJob(newJob())).job
      expect(await api.settledAmong([job.id])).toEqual([])
      await worker.claimJobs({ workerId: 'w2', now: T0, leaseMs: LEASE, limit: 1, llmLimit: 1 })
      await worker.recordAnswer(job.id, 'w2', answer, T0)
      expect(await api.settledAmong([job.id])).toEqual([job.id])
    } finally {
      await Promise.all(opened.splice(0).map((s) => s.close()))
      await db.dispose()
    }
  })
})

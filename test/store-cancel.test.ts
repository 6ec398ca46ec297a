import { describe, expect, test } from 'bun:test'
import type { Job, NewJob, Store } from '../src/store/store.ts'
import { describeIf, postgres } from './support/postgres.ts'
import { closedAfterEach, LEASE, newJob, storeAdapters, T0 } from './support/stores.ts'

/*
 * Store.cancelJob on both adapters, beyond the single job the transition walk looks at: what
 * a cancel does to its conversation's line, to the queue-depth counts and to the holder of the
 * job's lease. Real databases; times are injected.
 */

const adapters = storeAdapters('PostgresStore cancels')
const opened = closedAfterEach()

const answer = { response: 'an answer', model: 'm', usage: null }

describe.each(adapters)('$name', (adapter) => {
  async function openStore(): Promise<Store> {
    const store = await adapter.fresh().open()
    opened.push(store)
    return store
  }
  async function accept(store: Store, overrides: Partial<NewJob> = {}): Promise<Job> {
    return (await store.acceptJob(newJob(overrides))).job
  }
  const claimIds = async (store: Store, now = T0, workerId = 'w1'): Promise<string[]> =>
    (await store.claimJobs({ workerId, now, leaseMs: LEASE, limit: 10, llmLimit: 10 })).map((j) => j.id)
  const cancel = (store: Store, job: Job, now = T0) => store.cancelJob(job.id, job.owner, now)

  test('a job waiting its turn leaves the line: the head runs on, then the one after the cancelled one', async () => {
    const store = await openStore()
    const [a, b, c] = [await accept(store), await accept(store), await accept(store)]
    if (!a || !b || !c) throw new Error('not accepted')
    expect(await claimIds(store)).toEqual([a.id])
    expect(await cancel(store, b)).toMatchObject({ kind: 'cancelled', from: 'queued' })
    expect(await store.countOpenJobs()).toEqual({
      queued: 1,
      processing: 1,
      awaiting_tool_results: 0,
      delivering: 0,
    })
    // Nothing more is claimable while the head runs.
    expect(await claimIds(store)).toEqual([])
    expect(await store.recordAnswer(a.id, 'w1', answer, T0)).toBeDefined()
    expect(await claimIds(store)).toEqual([c.id])
    // A message accepted now waits behind c, and only behind c.
    const d = await accept(store)
    expect(await claimIds(store)).toEqual([])
    expect(await store.recordAnswer(c.id, 'w1', answer, T0)).toBeDefined()
    expect(await claimIds(store)).toEqual([d.id])
    expect((await store.readHistory(a.owner, a.conversationId, 10)).map((m) => m.jobId)).toEqual([
      a.id,
      a.id,
      c.id,
      c.id,
    ])
  })

  test('the head of a queued line ends its turn: the next message is claimable at once', async () => {
    const store = await openStore()
    const a = await accept(store)
    const b = await accept(store)
    expect(await cancel(store, a)).toMatchObject({ kind: 'cancelled', from: 'queued' })
    expect(await store.countOpenJobs()).toEqual({
      queued: 1,
      processing: 0,
      awaiting_tool_results: 0,
      delivering: 0,
    })
    expect(await claimIds(store)).toEqual([b.id])
    // With the line empty again, the next message does not wait.
    expect(await store.recordAnswer(b.id, 'w1', answer, T0)).toBeDefined()
    const c = await accept(store)
    expect(c.sequence).toBe(3)
    expect(await claimIds(store)).toEqual([c.id])
  })

  test('a processing job: its holder loses the lease, its answer is refused, the next message goes', async () => {
    const store = await openStore()
    const a = await accept(store)
    const b = await accept(store)
    expect(await claimIds(store)).toEqual([a.id])
    expect(await store.leaseHeld(a.id, 'w1')).toBe(true)
    const result = await cancel(store, a, T0 + 5)
    expect(result).toMatchObject({ kind: 'cancelled', from: 'processing' })
    if (result.kind !== 'cancelled') throw new Error('not cancelled')
    expect(result.job).toMatchObject({ status: 'cancelled', updatedAt: T0 + 5, llmAttempts: 1 })
    expect(await store.leaseHeld(a.id, 'w1')).toBe(false)
    expect(await store.renewLease(a.id, 'w1', T0 + LEASE)).toBe(false)
    expect(await store.recordAnswer(a.id, 'w1', answer, T0 + 6)).toBeUndefined()
    expect(
      await store.recordLlmFailure(a.id, 'w1', { code: 'llm_error', message: 'x' }, T0 + 6),
    ).toBeUndefined()
    expect(await store.releaseLease(a.id, 'w1', T0 + 6)).toBe(false)
    expect(await store.readHistory(a.owner, a.conversationId, 10)).toEqual([])
    expect(await claimIds(store, T0 + 6)).toEqual([b.id])
    // Its lease running out gives it to nobody.
    expect(await claimIds(store, T0 + 10 * LEASE, 'w2')).toEqual([b.id])
  })

  test('a delivering job: no callback attempt is claimed or recorded after, its answer stays in history', async () => {
    const store = await openStore()
    const a = await accept(store)
    await claimIds(store)
    expect(await store.recordAnswer(a.id, 'w1', answer, T0)).toBeDefined()
    expect(await cancel(store, a)).toMatchObject({ kind: 'cancelled', from: 'delivering' })
    const attempt = { at: T0, statusCode: 204, error: null, durationMs: 3 }
    expect(await store.recordDeliveryAttempt(a.id, 'w1', attempt, { status: 'delivered' })).toBe(false)
    expect(await store.listDeliveryAttempts(a.id)).toEqual([])
    expect(await claimIds(store, T0 + 10 * LEASE, 'w2')).toEqual([])
    expect(await store.nextWakeAt(T0)).toBeUndefined()
    expect(await store.countOpenJobs()).toEqual({
      queued: 0,
      processing: 0,
      awaiting_tool_results: 0,
      delivering: 0,
    })
    expect(await store.readHistory(a.owner, a.conversationId, 10)).toHaveLength(2)
  })

  test('only the owner cancels; a finished job is reported, a cancelled one again is a no-op', async () => {
    const store = await openStore()
    const a = await accept(store)
    expect(await store.cancelJob(a.id, 'owner-b', T0)).toEqual({ kind: 'not_found' })
    expect(await store.cancelJob('no-such-job', a.owner, T0)).toEqual({ kind: 'not_found' })
    expect((await cancel(store, a, T0 + 1)).kind).toBe('cancelled')
    const again = await cancel(store, a, T0 + 2)
    expect(again).toMatchObject({
      kind: 'already_cancelled',
      job: { status: 'cancelled', updatedAt: T0 + 1 },
    })

    const b = await accept(store)
    await claimIds(store)
    await store.recordAnswer(b.id, 'w1', answer, T0)
    const attempt = { at: T0, statusCode: 204, error: null, durationMs: 3 }
    await store.recordDeliveryAttempt(b.id, 'w1', attempt, { status: 'delivered' })
    expect(await cancel(store, b)).toMatchObject({ kind: 'finished', job: { status: 'delivered' } })
    expect((await store.getJob(b.id, b.owner, T0))?.status).toBe('delivered')
  })

  test('cancelled jobs are purged with the finished ones after RETENTION', async () => {
    const store = await openStore()
    const a = await accept(store)
    await cancel(store, a, T0 + 1)
    expect(await store.purgeFinishedJobs(T0 + 1)).toBe(0)
    expect(await store.purgeFinishedJobs(T0 + 2)).toBe(1)
    expect(await store.getJob(a.id, a.owner, T0 + 2)).toBeUndefined()
  })
})

describeIf(postgres)('PostgresStore, two instances', () => {
  test('cancels of waiting jobs racing the answers of their heads: no deadlock, every line goes on', async () => {
    const adapter = adapters.find((a) => a.name === 'PostgresStore')
    if (!adapter) throw new Error('no PostgreSQL adapter')
    const db = adapter.fresh()
    const [one, two] = [await db.open(), await db.open()]
    opened.push(one, two)
    const LINES = 20
    const lines: Job[][] = []
    for (let i = 0; i < LINES; i++) {
      const line: Job[] = []
      for (let m = 0; m < 3; m++)
        line.push((await one.acceptJob(newJob({ conversationId: `race-${i}` }))).job)
      lines.push(line)
    }
    const heads = await one.claimJobs({
      workerId: 'w1',
      now: T0,
      leaseMs: LEASE,
      limit: LINES,
      llmLimit: LINES,
    })
    expect(heads).toHaveLength(LINES)
    // Each head's answer releases its second message while the other instance cancels that one.
    await Promise.all(
      lines.flatMap(([head, second]) => {
        if (!head || !second) throw new Error('short line')
        return [
          one.recordAnswer(head.id, 'w1', answer, T0 + 1),
          two.cancelJob(second.id, second.owner, T0 + 1).then((r) => expect(r.kind).toBe('cancelled')),
        ]
      }),
    )
    // Whichever came first, each line's third message is the one claimable now, and only it.
    const next = await one.claimJobs({
      workerId: 'w1',
      now: T0 + 2,
      leaseMs: LEASE,
      limit: 100,
      llmLimit: 100,
    })
    expect(next.map((j) => j.id).sort()).toEqual(lines.map((line) => line[2]?.id as string).sort())
    expect(await one.countOpenJobs()).toEqual({
      queued: 0,
      processing: LINES,
      awaiting_tool_results: 0,
      delivering: LINES,
    })
  }, 30_000)
})

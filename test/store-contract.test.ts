import { describe, expect, test } from 'bun:test'
import type { PostgresStore } from '../src/store/postgres.ts'
import type { Answer, ClaimRequest, Job, NewJob, Store } from '../src/store/store.ts'
import { describeIf, postgres } from './support/postgres.ts'
import {
  closedAfterEach,
  LEASE,
  newJob,
  type StoreAdapter,
  storeAdapters,
  T0,
  type TestDatabase,
} from './support/stores.ts'

/*
 * One contract, both adapters, real databases. Every test gets a database of its own (a
 * SQLite file, or a PostgreSQL schema) because claims take any due job; `open()` may be
 * called again for another instance on the same database. Times are injected: no sleeps.
 */

// Without a PostgreSQL to test against, the SQLite half runs and one line says what to start.
const adapters = storeAdapters('PostgresStore (the store contract and wake-ups)')

const opened = closedAfterEach()

const answerTo = (job: Job): Answer => ({
  response: `answer to ${job.message}`,
  model: 'fake/answering-model',
  usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
})

describe.each(adapters)('$name', (adapter) => {
  async function openStore(db: TestDatabase = adapter.fresh()): Promise<Store> {
    const store = await db.open()
    opened.push(store)
    return store
  }

  async function accept(store: Store, overrides: Partial<NewJob> = {}): Promise<Job> {
    const result = await store.acceptJob(newJob(overrides))
    expect(result.kind).toBe('created')
    return result.job
  }

  const claim = (store: Store, overrides: Partial<ClaimRequest> = {}): Promise<Job[]> =>
    store.claimJobs({ workerId: 'w1', now: T0, leaseMs: LEASE, limit: 10, llmLimit: 10, ...overrides })

  const ids = (jobs: Job[]): string[] => jobs.map((j) => j.id).sort()

  /** Claims `job` for the LLM and answers it, as worker `w1` at `now`. */
  async function answer(store: Store, job: Job, now = T0): Promise<Job> {
    const claimed = await claim(store, { now })
    expect(ids(claimed)).toContain(job.id)
    const answered = await store.recordAnswer(job.id, 'w1', answerTo(job), now)
    if (!answered) throw new Error(`recordAnswer refused ${job.id}`)
    return answered
  }

  describe('accept', () => {
    test('numbers the messages of each conversation 1, 2, 3 and queues them', async () => {
      const store = await openStore()
      const a = await accept(store, { metadata: { ticket: 'T-1', nested: { n: 1 } } })
      const b = await accept(store)
      const c = await accept(store)
      const other = await accept(store, { conversationId: 'conv-2' })
      const otherOwner = await accept(store, { owner: 'owner-b' })
      expect([a.sequence, b.sequence, c.sequence]).toEqual([1, 2, 3])
      expect(other.sequence).toBe(1)
      expect(otherOwner.sequence).toBe(1)
      expect(a).toMatchObject({
        owner: 'owner-a',
        conversationId: 'conv-1',
        status: 'queued',
        callbackUrl: 'https://example.com/hook',
        model: 'fake/model',
        systemPrompt: 'Answer briefly.',
        metadata: { ticket: 'T-1', nested: { n: 1 } },
        response: null,
        error: null,
        usage: null,
        llmAttempts: 0,
        deliveryAttempts: 0,
        deliveryFailures: 0,
        createdAt: T0,
        updatedAt: T0,
        completedAt: null,
      })
      expect(await store.getJob(a.id, 'owner-a', T0)).toEqual(a)
      expect(await store.getJob(a.id, 'owner-b', T0)).toBeUndefined()
      expect(await store.getJob('no-such-job', 'owner-a', T0)).toBeUndefined()
    })

    test('keeps the trace context with the job: read back, claimed and answered with it; null without', async () => {
      const store = await openStore()
      const context = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\nvendor=kept'
      const traced = await accept(store, { traceContext: context })
      const plain = await accept(store, { conversationId: 'conv-untraced' })
      expect(traced.traceContext).toBe(context)
      expect(plain.traceContext).toBeNull()
      expect((await store.getJob(traced.id, traced.owner, T0))?.traceContext).toBe(context)
      const answered = await answer(store, traced)
      expect(answered.traceContext).toBe(context)
      expect((await store.getJob(plain.id, plain.owner, T0))?.traceContext).toBeNull()
    })

    test('keeps text byte-exact: NUL, a leading BOM, control bytes, emoji, right-to-left', async () => {
      const store = await openStore()
      const awkward = '\uFEFFbefore\u0000after\u0001\u001f\u007f 👩‍👩‍👧‍👦 مرحبا \u202Eevil\u202C'
      const job = await accept(store, {
        message: awkward,
        systemPrompt: `system ${awkward}`,
        model: `model ${awkward}`,
        callbackUrl: `https://example.com/${awkward}`,
        metadata: { text: awkward },
      })
      expect(await store.getJob(job.id, job.owner, T0)).toMatchObject({
        message: awkward,
        systemPrompt: `system ${awkward}`,
        model: `model ${awkward}`,
        callbackUrl: `https://example.com/${awkward}`,
        metadata: { text: awkward },
      })
      await claim(store)
      await store.recordAnswer(job.id, 'w1', { response: `echo ${awkward}`, model: awkward, usage: null }, T0)
      expect((await store.getJob(job.id, job.owner, T0))?.response).toBe(`echo ${awkward}`)
      expect((await store.readHistory(job.owner, job.conversationId, 10)).map((m) => m.content)).toEqual([
        awkward,
        `echo ${awkward}`,
      ])
    })

    test('the same idempotency key and body returns the existing job; another body conflicts', async () => {
      const store = await openStore()
      const first = await accept(store, { idempotencyKey: 'key-1', requestHash: 'body-1' })
      const replay = await store.acceptJob(newJob({ idempotencyKey: 'key-1', requestHash: 'body-1' }))
      expect(replay).toEqual({ kind: 'existing', job: first })
      const conflict = await store.acceptJob(newJob({ idempotencyKey: 'key-1', requestHash: 'body-2' }))
      expect(conflict).toEqual({ kind: 'idempotency_conflict', job: first })
      // Keys belong to their owner; a replay takes no sequence number.
      expect((await accept(store, { owner: 'owner-b', idempotencyKey: 'key-1' })).sequence).toBe(1)
      expect((await accept(store)).sequence).toBe(2)
    })

    test('concurrent accepts with one idempotency key on separate instances create one job', async () => {
      const db = adapter.fresh()
      const stores = await Promise.all(Array.from({ length: 8 }, () => openStore(db)))
      const results = await Promise.all(
        stores.map((s, i) =>
          s.acceptJob(
            newJob({ idempotencyKey: 'same-key', requestHash: 'same-body', conversationId: `c${i % 2}` }),
          ),
        ),
      )
      const created = results.filter((r) => r.kind === 'created')
      expect(created).toHaveLength(1)
      expect(results.filter((r) => r.kind === 'existing')).toHaveLength(7)
      expect(new Set(results.map((r) => r.job.id)).size).toBe(1)
      // The losers rolled back: their conversation counters did not move.
      const winner = created[0]?.job
      expect((await accept(stores[0] as Store, { conversationId: winner?.conversationId })).sequence).toBe(2)
      expect(
        (await accept(stores[0] as Store, { conversationId: winner?.conversationId === 'c0' ? 'c1' : 'c0' }))
          .sequence,
      ).toBe(1)
    })
  })

  describe('claim', () => {
    test('only the head of a conversation is claimable until it is answered', async () => {
      const store = await openStore()
      const a = await accept(store)
      const b = await accept(store)
      const other = await accept(store, { conversationId: 'conv-2' })
      const claimed = await claim(store)
      expect(ids(claimed)).toEqual(ids([a, other]))
      expect(claimed.find((j) => j.id === a.id)).toMatchObject({
        status: 'processing',
        llmAttempts: 1,
        updatedAt: T0,
      })
      expect(await claim(store, { workerId: 'w2', now: T0 + 1 })).toEqual([])

      await store.recordAnswer(a.id, 'w1', answerTo(a), T0 + 2)
      expect(ids(await claim(store, { workerId: 'w2', now: T0 + 2 }))).toEqual([b.id])
    })

    test('a message that failed for good lets the next one go, and joins no history', async () => {
      const store = await openStore()
      const a = await accept(store)
      const b = await accept(store)
      await claim(store)
      const error = { code: 'llm_bad_request', message: 'The model refused the request.' } as const
      const failed = await store.recordLlmFailure(a.id, 'w1', error, T0 + 5)
      expect(failed).toMatchObject({ status: 'delivering', error, response: null, completedAt: T0 + 5 })
      expect(await store.recordLlmFailure(a.id, 'w1', error, T0 + 6)).toBeUndefined()
      expect(await store.readHistory(a.owner, a.conversationId, 10)).toEqual([])
      const next = await claim(store, { workerId: 'w2', now: T0 + 5, llmLimit: 1, limit: 1 })
      expect(ids(next)).toEqual([b.id])
    })

    test('takes at most `limit` jobs, of which at most `llmLimit` for the LLM', async () => {
      const store = await openStore()
      const heads = []
      for (let i = 0; i < 5; i++) heads.push(await accept(store, { conversationId: `conv-${i}` }))
      expect(await claim(store, { llmLimit: 0 })).toEqual([])
      expect(await claim(store, { limit: 0 })).toEqual([])
      expect(await claim(store, { limit: 3, llmLimit: 2 })).toHaveLength(2)
      expect(await claim(store, { limit: 1, llmLimit: 5 })).toHaveLength(1)

      // Two answers whose first callback failed, due for delivery again soon after.
      const delivering: Job[] = []
      for (const job of await claim(store, { now: T0 + LEASE, limit: 2, llmLimit: 2 })) {
        await store.recordAnswer(job.id, 'w1', answerTo(job), T0 + LEASE)
        await store.recordDeliveryAttempt(
          job.id,
          'w1',
          {
            at: T0 + LEASE,
            statusCode: 500,
            error: { code: 'callback_http_status', message: '500' },
            durationMs: 3,
          },
          { status: 'delivering', retryAt: T0 + LEASE + 100 },
        )
        delivering.push(job)
      }
      expect(delivering).toHaveLength(2)
      // limit 3, llmLimit 1 at a time when everything is due: one LLM job, two callbacks.
      const mixed = await claim(store, { workerId: 'w2', now: T0 + 10 * LEASE, limit: 3, llmLimit: 1 })
      expect(mixed.filter((j) => j.status === 'processing')).toHaveLength(1)
      expect(ids(mixed.filter((j) => j.status === 'delivering'))).toEqual(ids(delivering))
    })

    test('a leased job is not claimed again until its lease runs out; then it is, with one more attempt', async () => {
      const store = await openStore()
      const a = await accept(store)
      await claim(store, { workerId: 'w1' })
      expect(await claim(store, { workerId: 'w2', now: T0 + LEASE - 1 })).toEqual([])
      const [again] = await claim(store, { workerId: 'w2', now: T0 + LEASE })
      expect(again).toMatchObject({ id: a.id, status: 'processing', llmAttempts: 2 })

      // The first worker lost the lease: it can neither renew nor answer.
      expect(await store.renewLease(a.id, 'w1', T0 + 10 * LEASE)).toBe(false)
      expect(await store.recordAnswer(a.id, 'w1', answerTo(a), T0 + LEASE + 1)).toBeUndefined()
      expect(await store.readHistory(a.owner, a.conversationId, 10)).toEqual([])

      expect(await store.renewLease(a.id, 'w2', T0 + 5 * LEASE)).toBe(true)
      expect(await claim(store, { workerId: 'w3', now: T0 + 5 * LEASE - 1 })).toEqual([])
      expect(await store.recordAnswer(a.id, 'w2', answerTo(a), T0 + LEASE + 2)).toMatchObject({ id: a.id })
      expect(await store.readHistory(a.owner, a.conversationId, 10)).toHaveLength(2)
    })
    test('a processing job whose lease ran out reads as queued, attempt kept; its holder may still answer until another claims it', async () => {
      const store = await openStore()
      const a = await accept(store)
      const b = await accept(store, { conversationId: 'conv-2' })
      await claim(store)
      expect(await store.getJob(a.id, a.owner, T0 + LEASE - 1)).toMatchObject({
        status: 'processing',
        llmAttempts: 1,
      })
      expect(await store.getJob(a.id, a.owner, T0 + LEASE)).toMatchObject({
        status: 'queued',
        llmAttempts: 1,
      })
      // Nobody took a yet: its holder's late answer still counts. b is taken by w2 first.
      expect(await store.recordAnswer(a.id, 'w1', answerTo(a), T0 + LEASE)).toMatchObject({
        status: 'delivering',
      })
      expect(ids(await claim(store, { workerId: 'w2', now: T0 + LEASE, llmLimit: 1, limit: 1 }))).toEqual([
        b.id,
      ])
      expect(await store.recordAnswer(b.id, 'w1', answerTo(b), T0 + LEASE)).toBeUndefined()
      expect(await store.getJob(b.id, b.owner, T0 + LEASE)).toMatchObject({
        status: 'processing',
        llmAttempts: 2,
      })
    })
  })

  describe('answer', () => {
    test('appends the user and assistant messages once, for the lease holder only', async () => {
      const store = await openStore()
      const a = await accept(store, { now: T0 - 50 })
      await claim(store)
      const answered = await store.recordAnswer(a.id, 'w1', answerTo(a), T0 + 7)
      expect(answered).toMatchObject({
        status: 'delivering',
        response: `answer to ${a.message}`,
        model: 'fake/answering-model',
        usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
        error: null,
        completedAt: T0 + 7,
        updatedAt: T0 + 7,
      })
      expect(await store.recordAnswer(a.id, 'w1', answerTo(a), T0 + 8)).toBeUndefined()
      expect(await store.readHistory(a.owner, a.conversationId, 10)).toEqual([
        { role: 'user', content: a.message, jobId: a.id, createdAt: T0 - 50 },
        { role: 'assistant', content: `answer to ${a.message}`, jobId: a.id, createdAt: T0 + 7 },
      ])
      // Still leased for its first callback: nobody else takes it before the lease runs out.
      expect(await claim(store, { workerId: 'w2', now: T0 + LEASE - 1 })).toEqual([])
    })

    test('a retry puts the job back until retryAt; countAttempt false gives the attempt back', async () => {
      const store = await openStore()
      const a = await accept(store)
      const b = await accept(store)
      const error = { code: 'llm_rate_limited', message: '429' } as const
      await claim(store)
      expect(await store.recordLlmRetry(a.id, 'w2', error, T0 + 5000, true, T0 + 1)).toBe(false)
      expect(await store.recordLlmRetry(a.id, 'w1', error, T0 + 5000, true, T0 + 1)).toBe(true)
      expect(await store.getJob(a.id, a.owner, T0)).toMatchObject({ status: 'queued', error, llmAttempts: 1 })
      expect(await store.nextWakeAt(T0 + 1)).toBe(T0 + 5000)
      expect(await claim(store, { now: T0 + 4999 })).toEqual([])

      const [retried] = await claim(store, { workerId: 'w2', now: T0 + 5000 })
      expect(retried).toMatchObject({ id: a.id, llmAttempts: 2 })
      expect(await store.recordLlmRetry(a.id, 'w2', error, T0 + 6000, false, T0 + 5001)).toBe(true)
      expect((await store.getJob(a.id, a.owner, T0))?.llmAttempts).toBe(1)
      const [third] = await claim(store, { workerId: 'w3', now: T0 + 6000 })
      expect(third).toMatchObject({ id: a.id, llmAttempts: 2 })
      // The next message waited throughout.
      expect((await store.getJob(b.id, b.owner, T0))?.status).toBe('queued')
      await store.recordAnswer(a.id, 'w3', answerTo(a), T0 + 6001)
      expect((await store.getJob(a.id, a.owner, T0))?.error).toBeNull()
      expect(ids(await claim(store, { now: T0 + 6001 }))).toEqual([b.id])
    })
  })

  describe('delivery', () => {
    test('a claim takes at most deliveryLimit callback attempts, whatever limit leaves', async () => {
      const store = await openStore()
      const answered = []
      for (let i = 0; i < 3; i++)
        answered.push(await answer(store, await accept(store, { conversationId: `d-${i}` }), T0 + i))
      const queued = await accept(store, { conversationId: 'd-llm' })
      // Each answered job's lease runs out: all three are due for a callback, one for the LLM.
      const later = T0 + LEASE + 10
      const first = await claim(store, {
        workerId: 'w2',
        now: later,
        limit: 10,
        llmLimit: 1,
        deliveryLimit: 2,
      })
      expect(first.filter((j) => j.status === 'processing').map((j) => j.id)).toEqual([queued.id])
      expect(first.filter((j) => j.status === 'delivering')).toHaveLength(2)
      const rest = await claim(store, {
        workerId: 'w3',
        now: later,
        limit: 10,
        llmLimit: 0,
        deliveryLimit: 5,
      })
      expect(ids([...first, ...rest].filter((j) => j.status === 'delivering'))).toEqual(ids(answered))
    })

    test('records each attempt and its outcome: retry later, dead, redelivered, delivered', async () => {
      const store = await openStore()
      const a = await answer(store, await accept(store))
      const failure = { code: 'callback_http_status', message: 'The callback answered 503.' } as const

      expect(
        await store.recordDeliveryAttempt(
          a.id,
          'w2',
          { at: T0 + 1, statusCode: 503, error: failure, durationMs: 4 },
          { status: 'dead' },
        ),
      ).toBe(false)
      expect(
        await store.recordDeliveryAttempt(
          a.id,
          'w1',
          { at: T0 + 1, statusCode: 503, error: failure, durationMs: 4 },
          { status: 'delivering', retryAt: T0 + 1000 },
        ),
      ).toBe(true)
      expect(await store.getJob(a.id, a.owner, T0)).toMatchObject({
        status: 'delivering',
        deliveryAttempts: 1,
        deliveryFailures: 1,
      })
      expect(await store.nextWakeAt(T0 + 1)).toBe(T0 + 1000)
      expect(await claim(store, { workerId: 'w2', now: T0 + 999 })).toEqual([])
      expect(ids(await claim(store, { workerId: 'w2', now: T0 + 1000 }))).toEqual([a.id])

      const timeout = { code: 'callback_timeout', message: 'No answer within 10000 ms.' } as const
      await store.recordDeliveryAttempt(
        a.id,
        'w2',
        { at: T0 + 1000, statusCode: null, error: timeout, durationMs: 10_000 },
        { status: 'dead' },
      )
      expect(await store.getJob(a.id, a.owner, T0)).toMatchObject({
        status: 'dead',
        deliveryAttempts: 2,
        deliveryFailures: 2,
      })
      expect(await claim(store, { workerId: 'w3', now: T0 + 100 * LEASE })).toEqual([])

      expect(await store.redeliver(a.id, a.owner, T0 + 2000)).toBe('scheduled')
      expect(await store.getJob(a.id, a.owner, T0)).toMatchObject({
        status: 'delivering',
        deliveryFailures: 0,
      })
      expect(ids(await claim(store, { workerId: 'w3', now: T0 + 2000 }))).toEqual([a.id])
      await store.recordDeliveryAttempt(
        a.id,
        'w3',
        { at: T0 + 2001, statusCode: 204, error: null, durationMs: 2 },
        { status: 'delivered' },
      )
      expect(await store.getJob(a.id, a.owner, T0)).toMatchObject({
        status: 'delivered',
        deliveryAttempts: 3,
        deliveryFailures: 0,
        updatedAt: T0 + 2001,
      })
      expect(await store.listDeliveryAttempts(a.id)).toEqual([
        { attempt: 1, at: T0 + 1, statusCode: 503, error: failure, durationMs: 4 },
        { attempt: 2, at: T0 + 1000, statusCode: null, error: timeout, durationMs: 10_000 },
        { attempt: 3, at: T0 + 2001, statusCode: 204, error: null, durationMs: 2 },
      ])
      expect(await store.listDeliveryAttempts('no-such-job')).toEqual([])
    })

    test('a dead job reads with its last delivery error; a failed job keeps the error it failed with', async () => {
      const store = await openStore()
      const answered = await answer(store, await accept(store))
      const refused = { code: 'callback_forbidden', message: 'The address 10.0.0.1 is private.' } as const
      const attempt = (error: typeof refused | null, at: number) => ({
        at,
        statusCode: null,
        error,
        durationMs: 1,
      })
      await store.recordDeliveryAttempt(answered.id, 'w1', attempt(refused, T0 + 1), { status: 'dead' })
      expect(await store.getJob(answered.id, answered.owner, T0 + 2)).toMatchObject({
        status: 'dead',
        error: refused,
      })
      // Redelivered, it is not dead any more: no error of its own.
      await store.redeliver(answered.id, answered.owner, T0 + 3)
      expect((await store.getJob(answered.id, answered.owner, T0 + 3))?.error).toBeNull()

      const failed = await accept(store, { conversationId: 'conv-2' })
      await claim(store, { now: T0 + 4 })
      const llmError = { code: 'llm_bad_request', message: 'No.' } as const
      await store.recordLlmFailure(failed.id, 'w1', llmError, T0 + 4)
      await store.recordDeliveryAttempt(failed.id, 'w1', attempt(refused, T0 + 5), { status: 'dead' })
      expect(await store.getJob(failed.id, failed.owner, T0 + 6)).toMatchObject({
        status: 'dead',
        error: llmError,
      })
    })

    test('redeliver schedules finished jobs only, and only for their owner', async () => {
      const store = await openStore()
      const queued = await accept(store)
      expect(await store.redeliver(queued.id, queued.owner, T0)).toBe('not_finished')
      expect(await store.redeliver(queued.id, 'owner-b', T0)).toBe('not_found')
      expect(await store.redeliver('no-such-job', queued.owner, T0)).toBe('not_found')

      const answered = await answer(store, queued)
      expect(await store.redeliver(answered.id, answered.owner, T0)).toBe('not_finished')
      await store.recordDeliveryAttempt(
        answered.id,
        'w1',
        { at: T0 + 1, statusCode: 200, error: null, durationMs: 1 },
        { status: 'delivered' },
      )
      expect(await store.redeliver(answered.id, answered.owner, T0 + 2)).toBe('scheduled')
      expect(await store.redeliver(answered.id, answered.owner, T0 + 3)).toBe('not_finished')
    })
  })

  describe('history and conversations', () => {
    test('readHistory returns the newest N messages, oldest first', async () => {
      const store = await openStore()
      const jobs = [await accept(store), await accept(store), await accept(store)]
      for (const [i, job] of jobs.entries()) await answer(store, job, T0 + i)
      const all = await store.readHistory('owner-a', 'conv-1', 100)
      expect(all.map((m) => [m.role, m.jobId])).toEqual(
        jobs.flatMap((j) => [
          ['user', j.id],
          ['assistant', j.id],
        ]),
      )
      expect(await store.readHistory('owner-a', 'conv-1', 3)).toEqual(all.slice(3))
      expect(await store.readHistory('owner-a', 'conv-1', 0)).toEqual([])
      expect(await store.readHistory('owner-b', 'conv-1', 10)).toEqual([])
    })

    test('readConversation and deleteConversation; sequence numbers keep rising after a delete', async () => {
      const store = await openStore()
      expect(await store.readConversation('owner-a', 'conv-1')).toBeUndefined()
      expect(await store.deleteConversation('owner-a', 'conv-1')).toBe(false)
      const a = await accept(store)
      // In line but not yet answered: it exists, with no history yet.
      expect(await store.readConversation('owner-a', 'conv-1')).toEqual([])
      await answer(store, a)
      expect(await store.readConversation('owner-a', 'conv-1')).toEqual(
        await store.readHistory('owner-a', 'conv-1', 100),
      )
      expect(await store.readConversation('owner-b', 'conv-1')).toBeUndefined()
      expect(await store.deleteConversation('owner-b', 'conv-1')).toBe(false)

      expect(await store.deleteConversation('owner-a', 'conv-1')).toBe(true)
      expect(await store.readConversation('owner-a', 'conv-1')).toBeUndefined()
      expect(await store.deleteConversation('owner-a', 'conv-1')).toBe(false)
      expect((await accept(store)).sequence).toBe(2)
    })
  })

  describe('timers, leases and upkeep', () => {
    test('nextWakeAt is the earliest future due time or lease end, ignoring waiting messages', async () => {
      const store = await openStore()
      expect(await store.nextWakeAt(T0)).toBeUndefined()
      const a = await accept(store, { now: T0 + 1000 })
      await accept(store, { now: T0 + 500 }) // waits behind a
      expect(await store.nextWakeAt(T0)).toBe(T0 + 1000)
      expect(await store.nextWakeAt(T0 + 1000)).toBeUndefined()
      await claim(store, { now: T0 + 1000 })
      expect(await store.nextWakeAt(T0 + 1000)).toBe(T0 + 1000 + LEASE)
      await store.recordAnswer(a.id, 'w1', answerTo(a), T0 + 1001)
      // The answered job's lease (for its callback) and the released next message.
      expect(await store.nextWakeAt(T0 + 400)).toBe(T0 + 500)
      expect(await store.nextWakeAt(T0 + 1001)).toBe(T0 + 1000 + LEASE)
    })

    test('releaseLeases gives back a worker’s jobs at once, and the LLM attempt with them', async () => {
      const store = await openStore()
      const a = await accept(store)
      const b = await accept(store, { conversationId: 'conv-2' })
      await claim(store)
      await store.recordAnswer(b.id, 'w1', answerTo(b), T0 + 1)
      expect(await store.releaseLeases('w2', T0 + 10)).toBe(0)
      expect(await store.releaseLeases('w1', T0 + 10)).toBe(2)
      expect(await store.getJob(a.id, a.owner, T0)).toMatchObject({ status: 'queued', llmAttempts: 0 })
      const taken = await claim(store, { workerId: 'w2', now: T0 + 10 })
      expect(ids(taken)).toEqual(ids([a, b]))
      expect(taken.find((j) => j.id === b.id)?.status).toBe('delivering')
    })

    test('counts open jobs by status and purges finished jobs and old history', async () => {
      const store = await openStore()
      const done = await answer(store, await accept(store), T0 + 5)
      await store.recordDeliveryAttempt(
        done.id,
        'w1',
        { at: T0 + 10, statusCode: 200, error: null, durationMs: 1 },
        { status: 'delivered' },
      )
      await accept(store)
      await accept(store, { conversationId: 'conv-2' })
      await accept(store, { conversationId: 'conv-2' })
      await claim(store, { workerId: 'w2', now: T0 + 20, llmLimit: 1, limit: 1 })
      // Of conv-2's two jobs the second waits its turn: still queued. The delivered job is not open.
      expect(await store.countOpenJobs()).toEqual({
        queued: 2,
        processing: 1,
        awaiting_tool_results: 0,
        delivering: 0,
      })
      // Answering conv-3's job also claims conv-2's head: one more processing, one delivering.
      await answer(store, await accept(store, { conversationId: 'conv-3' }), T0 + 30)
      expect(await store.countOpenJobs()).toEqual({
        queued: 1,
        processing: 2,
        awaiting_tool_results: 0,
        delivering: 1,
      })
      expect(await store.purgeFinishedJobs(T0 + 10)).toBe(0)
      expect(await store.purgeFinishedJobs(T0 + 11)).toBe(1)
      expect(await store.getJob(done.id, done.owner, T0)).toBeUndefined()
      expect(await store.listDeliveryAttempts(done.id)).toEqual([])
      // The user messages (conv-1's and conv-3's) are as old as their jobs; the answers came later.
      expect(await store.purgeHistory(T0 + 1)).toBe(2)
      expect((await store.readHistory('owner-a', 'conv-1', 10)).map((m) => m.role)).toEqual(['assistant'])
      await store.maintain()
      expect(await store.ping()).toBe(true)
    })
  })

  test('8 instances racing over 200 jobs in 20 conversations: each claimed once, one at a time per conversation, history in order', async () => {
    const db = adapter.fresh()
    const stores = await Promise.all(Array.from({ length: 8 }, () => openStore(db)))
    const CONVERSATIONS = 20
    const PER_CONVERSATION = 10
    const total = CONVERSATIONS * PER_CONVERSATION

    // Accepted from all instances at once: the counters must still number each line 1..10.
    const accepted = await Promise.all(
      Array.from({ length: total }, (_, i) =>
        (stores[i % stores.length] as Store).acceptJob(
          newJob({ conversationId: `race-${i % CONVERSATIONS}`, message: `race message ${i}` }),
        ),
      ),
    )
    const byId = new Map(accepted.map((r) => [r.job.id, r.job]))
    for (let c = 0; c < CONVERSATIONS; c++) {
      const sequences = [...byId.values()]
        .filter((j) => j.conversationId === `race-${c}`)
        .map((j) => j.sequence)
      expect(sequences.sort((x, y) => x - y)).toEqual(
        Array.from({ length: PER_CONVERSATION }, (_, i) => i + 1),
      )
    }

    const claims = new Map<string, number>()
    /** Per conversation: the job claimed and not yet handed to recordAnswer. */
    const holding = new Map<string, string>()
    const violations: string[] = []
    let answered = 0
    const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

    async function work(store: Store, workerId: string): Promise<void> {
      for (let idle = 0; answered < total && idle < 10_000; ) {
        // A lease far beyond the test, so no job is taken back: every claim is a first claim.
        const jobs = await store.claimJobs({ workerId, now: T0, leaseMs: 3_600_000, limit: 3, llmLimit: 3 })
        if (jobs.length === 0) {
          idle++
          await yieldTurn()
          continue
        }
        idle = 0
        for (const job of jobs) {
          claims.set(job.id, (claims.get(job.id) ?? 0) + 1)
          const other = holding.get(job.conversationId)
          if (other !== undefined)
            violations.push(`${workerId} claimed ${job.id} while ${other} was in flight`)
          holding.set(job.conversationId, job.id)
        }
        await Promise.all(
          jobs.map(async (job) => {
            // The answer must see every earlier message of its conversation.
            const history = await store.readHistory(job.owner, job.conversationId, 1000)
            if (history.length !== 2 * (job.sequence - 1)) {
              violations.push(`${job.id} (#${job.sequence}) saw ${history.length} earlier messages`)
            }
            await yieldTurn()
            holding.delete(job.conversationId)
            const done = await store.recordAnswer(job.id, workerId, answerTo(job), T0)
            if (!done) violations.push(`${workerId} could not answer ${job.id}`)
            answered++
          }),
        )
      }
    }

    await Promise.all(stores.map((store, i) => work(store, `worker-${i}`)))

    expect(violations).toEqual([])
    expect(answered).toBe(total)
    expect(claims.size).toBe(total)
    expect([...claims.values()].every((n) => n === 1)).toBe(true)
    for (let c = 0; c < CONVERSATIONS; c++) {
      const line = [...byId.values()]
        .filter((j) => j.conversationId === `race-${c}`)
        .sort((x, y) => x.sequence - y.sequence)
      const history = await (stores[0] as Store).readConversation('owner-a', `race-${c}`)
      expect(history?.map((m) => [m.role, m.content])).toEqual(
        line.flatMap((j) => [
          ['user', j.message],
          ['assistant', `answer to ${j.message}`],
        ]),
      )
    }
  }, 60_000)
})

describeIf(postgres)('PostgresStore wake-ups', () => {
  const adapter = adapters[1] as StoreAdapter

  test('LISTEN wakes an instance when another accepts, retries, lets the next message go or redelivers', async () => {
    const db = adapter.fresh()
    const listener = (await db.open()) as PostgresStore
    const other = await db.open()
    opened.push(listener, other)
    let wakes = 0
    let onWake = () => {}
    const stop = await listener.listen(() => {
      wakes++
      onWake()
    })
    // Once on subscribing, before listen() resolves, so the waits below are for real notifications.
    expect(wakes).toBe(1)
    const nextWake = (): Promise<void> =>
      new Promise<void>((resolve) => {
        onWake = resolve
      })

    let woken = nextWake()
    const a = await other.acceptJob(newJob())
    await woken
    if (a.kind !== 'created') throw new Error('not created')
    woken = nextWake()
    await other.acceptJob(newJob()) // waits behind a: answering a lets it go
    await woken

    await other.claimJobs({ workerId: 'w1', now: T0, leaseMs: LEASE, limit: 1, llmLimit: 1 })
    woken = nextWake()
    await other.recordLlmRetry(a.job.id, 'w1', { code: 'llm_unavailable', message: '503' }, T0 + 1, true, T0)
    await woken

    await other.claimJobs({ workerId: 'w1', now: T0 + 1, leaseMs: LEASE, limit: 1, llmLimit: 1 })
    woken = nextWake()
    await other.recordAnswer(a.job.id, 'w1', answerTo(a.job), T0 + 2)
    await woken

    await other.recordDeliveryAttempt(
      a.job.id,
      'w1',
      { at: T0 + 3, statusCode: null, error: { code: 'callback_timeout', message: 'slow' }, durationMs: 1 },
      { status: 'dead' },
    )
    woken = nextWake()
    await other.redeliver(a.job.id, a.job.owner, T0 + 4)
    await woken
    expect(wakes).toBeGreaterThanOrEqual(6)
    await stop()
  })
})

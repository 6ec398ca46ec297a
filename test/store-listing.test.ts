import { describe, expect, test } from 'bun:test'
import type { JobStatus } from '../src/job.ts'
import type { JobListQuery, JobPosition } from '../src/store/listing.ts'
import type { Job, NewJob, Store } from '../src/store/store.ts'
import { closedAfterEach, newJob, storeAdapters, T0 } from './support/stores.ts'

/*
 * The operators' listing and recovery methods, one contract on both adapters and real
 * databases. Every test gets a database of its own; times are injected.
 */

// Without a PostgreSQL to test against, the SQLite half runs and one line says what to start.
const adapters = storeAdapters('PostgresStore (job and conversation listings, redelivery)')
const opened = closedAfterEach()

describe.each(adapters)('$name', (adapter) => {
  async function openStore(): Promise<{ store: Store; another: () => Promise<Store> }> {
    const db = adapter.fresh()
    const store = await db.open()
    opened.push(store)
    return {
      store,
      another: async () => {
        const s = await db.open()
        opened.push(s)
        return s
      },
    }
  }

  async function accept(store: Store, overrides: Partial<NewJob> = {}): Promise<Job> {
    const result = await store.acceptJob(newJob({ owner: 'alice', ...overrides }))
    if (result.kind !== 'created') throw new Error(`not created: ${result.kind}`)
    return result.job
  }

  /** Takes every due LLM job through answering; each then waits for its callback. */
  async function answerAll(store: Store, now: number): Promise<Job[]> {
    const claimed = await store.claimJobs({ workerId: 'w', now, leaseMs: 1000, limit: 100, llmLimit: 100 })
    for (const job of claimed)
      await store.recordAnswer(
        job.id,
        'w',
        { response: `answer to ${job.message}`, model: 'm', usage: null },
        now,
      )
    return claimed
  }

  /** Answers and then delivers (or kills) the head job of `job`'s conversation, which must be `job`. */
  async function finish(store: Store, job: Job, outcome: 'delivered' | 'dead', now = T0 + 10): Promise<void> {
    const [claimed] = await store.claimJobs({ workerId: 'w', now, leaseMs: 1000, limit: 1, llmLimit: 1 })
    expect(claimed?.id).toBe(job.id)
    await store.recordAnswer(job.id, 'w', { response: 'answer', model: 'm', usage: null }, now)
    const error = outcome === 'dead' ? { code: 'callback_http_status' as const, message: '500' } : null
    expect(
      await store.recordDeliveryAttempt(
        job.id,
        'w',
        { at: now, statusCode: outcome === 'dead' ? 500 : 200, error, durationMs: 1 },
        { status: outcome },
      ),
    ).toBe(true)
  }

  /** Every page of a query, following `next` to the end. */
  async function allPages(
    store: Store,
    query: Omit<JobListQuery, 'limit'>,
    limit: number,
  ): Promise<string[][]> {
    const pages: string[][] = []
    let after: JobPosition | undefined = query.after
    for (;;) {
      const page = await store.listJobs({ ...query, limit, ...(after ? { after } : {}) })
      pages.push(page.jobs.map((j) => j.id))
      if (!page.next) return pages
      after = page.next
    }
  }

  describe('listJobs', () => {
    test('pages newest first through every job once, ties on the time broken by acceptance order', async () => {
      const { store } = await openStore()
      const jobs: Job[] = []
      // Three jobs share each millisecond, so pages end in the middle of a tie.
      for (let i = 0; i < 10; i++) jobs.push(await accept(store, { now: T0 + Math.floor(i / 3) }))
      const pages = await allPages(store, { owner: 'alice' }, 4)
      expect(pages).toEqual([
        jobs
          .slice(6)
          .reverse()
          .map((j) => j.id),
        jobs
          .slice(2, 6)
          .reverse()
          .map((j) => j.id),
        jobs
          .slice(0, 2)
          .reverse()
          .map((j) => j.id),
      ])
      const [first] = (await store.listJobs({ owner: 'alice', limit: 1 })).jobs
      expect(first).toMatchObject({
        id: jobs[9]?.id,
        owner: 'alice',
        conversationId: 'conv-1',
        sequence: 10,
        status: 'queued',
        model: 'fake/model',
        messagePreview: jobs[9]?.message,
        errorCode: null,
        llmAttempts: 0,
        deliveryAttempts: 0,
        createdAt: T0 + 3,
        updatedAt: T0 + 3,
      })
      // A page that ends exactly at the last job says so.
      expect((await store.listJobs({ owner: 'alice', limit: 10 })).next).toBeNull()
      expect(await store.listJobs({ owner: 'nobody', limit: 10 })).toEqual({ jobs: [], next: null })
    })

    test('a client sees its own jobs; every owner’s without an owner', async () => {
      const { store } = await openStore()
      const a = await accept(store, { owner: 'alice' })
      const b = await accept(store, { owner: 'bob' })
      const anonymous = await accept(store, { owner: '' })
      expect((await store.listJobs({ owner: 'alice', limit: 10 })).jobs.map((j) => j.id)).toEqual([a.id])
      expect((await store.listJobs({ owner: '', limit: 10 })).jobs.map((j) => j.id)).toEqual([anonymous.id])
      const all = await store.listJobs({ owner: undefined, limit: 10 })
      expect(all.jobs.map((j) => [j.id, j.owner])).toEqual([
        [anonymous.id, ''],
        [b.id, 'bob'],
        [a.id, 'alice'],
      ])
      expect(await store.ownerOfJob(b.id)).toBe('bob')
      expect(await store.ownerOfJob('no-such-job')).toBeUndefined()
    })

    test('filters by one or several statuses, merging their streams in order across pages', async () => {
      const { store } = await openStore()
      const byStatus: Record<string, string[]> = { queued: [], delivering: [], delivered: [], dead: [] }
      const kinds = ['queued', 'delivering', 'delivered', 'dead'] as const
      // Finished ones first, so each is the only job due when it is claimed; their times interleave.
      for (const kind of ['delivered', 'dead', 'delivering', 'queued'] as const)
        for (let i = kinds.indexOf(kind); i < 12; i += 4) {
          const job = await accept(store, { conversationId: `conv-${i}`, now: T0 + i })
          byStatus[kind]?.push(job.id)
          if (kind === 'delivered' || kind === 'dead') await finish(store, job, kind, T0 + 100 + i)
          if (kind === 'delivering')
            expect((await answerAll(store, T0 + 100 + i)).map((j) => j.id)).toEqual([job.id])
        }
      const order = (ids: string[]) =>
        [...ids].sort((a, b) => Number(idTimes.get(b)) - Number(idTimes.get(a)))
      const idTimes = new Map<string, number>()
      for (const job of (await store.listJobs({ owner: undefined, limit: 100 })).jobs)
        idTimes.set(job.id, job.createdAt)
      for (const status of kinds) {
        const page = await store.listJobs({ owner: 'alice', statuses: [status], limit: 10 })
        expect(page.jobs.map((j) => j.id)).toEqual(order(byStatus[status] ?? []))
        expect(page.jobs.every((j) => j.status === status)).toBe(true)
      }
      const dead = await store.listJobs({ owner: undefined, statuses: ['dead'], limit: 1 })
      expect(dead.jobs[0]).toMatchObject({ status: 'dead', errorCode: null, deliveryAttempts: 1 })
      const two: JobStatus[] = ['dead', 'queued', 'dead']
      const expected = order([...(byStatus.queued ?? []), ...(byStatus.dead ?? [])])
      expect((await allPages(store, { owner: 'alice', statuses: two }, 2)).flat()).toEqual(expected)
      expect((await allPages(store, { owner: undefined, statuses: two }, 4)).flat()).toEqual(expected)
    })

    test('filters by conversation: a client’s own, or every owner’s of that id merged', async () => {
      const { store } = await openStore()
      const mine = [await accept(store, { conversationId: 'shared', now: T0 + 1 })]
      const other = await accept(store, { owner: 'bob', conversationId: 'shared', now: T0 + 2 })
      await accept(store, { conversationId: 'elsewhere', now: T0 + 3 })
      mine.push(await accept(store, { conversationId: 'shared', now: T0 + 4 }))
      const third = await accept(store, { owner: 'carol', conversationId: 'shared', now: T0 + 5 })
      expect(
        (await store.listJobs({ owner: 'alice', conversationId: 'shared', limit: 10 })).jobs.map((j) => j.id),
      ).toEqual(idsAt(mine, 1, 0))
      expect((await allPages(store, { owner: undefined, conversationId: 'shared' }, 2)).flat()).toEqual([
        third.id,
        ...idsAt(mine, 1),
        other.id,
        ...idsAt(mine, 0),
      ])
      expect(await store.listJobs({ owner: undefined, conversationId: 'nowhere', limit: 5 })).toEqual({
        jobs: [],
        next: null,
      })
    })

    test('created_after is inclusive and created_before exclusive; both combine with other filters', async () => {
      const { store } = await openStore()
      const jobs: Job[] = []
      for (let i = 0; i < 6; i++)
        jobs.push(await accept(store, { now: T0 + 10 * i, conversationId: `c${i % 2}` }))
      const ids = (q: Omit<JobListQuery, 'limit' | 'owner'>) =>
        store.listJobs({ owner: 'alice', limit: 10, ...q }).then((p) => p.jobs.map((j) => j.id))
      expect(await ids({ createdAfter: T0 + 20, createdBefore: T0 + 40 })).toEqual(idsAt(jobs, 3, 2))
      expect(await ids({ createdAfter: T0 + 41 })).toEqual(idsAt(jobs, 5))
      expect(await ids({ createdBefore: T0 + 10 })).toEqual(idsAt(jobs, 0))
      expect(await ids({ createdAfter: T0 + 10, conversationId: 'c1', statuses: ['queued'] })).toEqual(
        idsAt(jobs, 5, 3, 1),
      )
      expect(await ids({ createdAfter: T0 + 30, createdBefore: T0 + 30 })).toEqual([])
    })

    test('q finds an exact, case-sensitive substring of the message, also in awkward text', async () => {
      const { store } = await openStore()
      const plain = await accept(store, { message: 'The invoice for March is late' })
      await accept(store, { message: 'nothing to see' })
      const awkward = await accept(store, { message: 'a\u0000b 👩‍👩‍👧 größe 100%_done' })
      const find = (text: string) =>
        store.listJobs({ owner: 'alice', limit: 10, text }).then((p) => p.jobs.map((j) => j.id))
      expect(await find('invoice for')).toEqual([plain.id])
      expect(await find('Invoice')).toEqual([])
      expect(await find('\u0000b')).toEqual([awkward.id])
      expect(await find('👩‍👩‍👧')).toEqual([awkward.id])
      expect(await find('größe')).toEqual([awkward.id])
      // No pattern characters: % and _ are themselves.
      expect(await find('%_')).toEqual([awkward.id])
      expect(await find('%')).toEqual([awkward.id])
      expect(await find('e')).toHaveLength(3)
    })

    test('the preview is the first 200 characters, never half of one', async () => {
      const { store } = await openStore()
      const long = `${'é'.repeat(150)}${'😀'.repeat(100)}`
      const job = await accept(store, { message: long })
      const [summary] = (await store.listJobs({ owner: 'alice', limit: 1 })).jobs
      expect(summary?.id).toBe(job.id)
      expect(Array.from(summary?.messagePreview ?? '')).toHaveLength(200)
      expect(summary?.messagePreview).toBe(`${'é'.repeat(150)}${'😀'.repeat(50)}`)
    })

    test('pagination under concurrent inserts: no page repeats or skips a job that was there', async () => {
      const { store, another } = await openStore()
      const other = await another()
      const before: string[] = []
      for (let i = 0; i < 30; i++)
        before.push((await accept(store, { now: T0 + i, conversationId: `c${i % 4}` })).id)
      const seen: string[] = []
      let after: JobPosition | undefined
      let late = 0
      for (;;) {
        // Another instance accepts while this one pages: newer jobs, and with a clock behind, older ones.
        const inserting = Promise.all([
          accept(other, { now: T0 + 1000 + late, conversationId: `c${late % 4}` }),
          accept(other, { now: T0 + 5 + (late % 20), conversationId: `c${late % 4}` }),
        ])
        const page = await store.listJobs({ owner: 'alice', limit: 7, ...(after ? { after } : {}) })
        await inserting
        late++
        seen.push(...page.jobs.map((j) => j.id))
        if (!page.next) break
        after = page.next
      }
      expect(new Set(seen).size).toBe(seen.length)
      expect(before.filter((id) => !seen.includes(id))).toEqual([])
      // The pages are in order, whatever arrived between them.
      const all = (await store.listJobs({ owner: 'alice', limit: 500 })).jobs.map((j) => j.id)
      expect(seen).toEqual(all.filter((id) => seen.includes(id)))
    })
  })

  test('an admin’s pages merge every owner’s streams, also past 100 owners (one statement each 100)', async () => {
    const { store } = await openStore()
    const ids: string[] = []
    // The dead ones first, so each is the only job due when it is claimed.
    const order = Array.from({ length: 130 }, (_, i) => i).sort(
      (a, b) => (b % 3 === 0 ? 1 : 0) - (a % 3 === 0 ? 1 : 0),
    )
    for (const i of order) {
      const job = await accept(store, { owner: `client-${String(i).padStart(3, '0')}`, now: T0 + (i % 7) })
      if (i % 3 === 0) await finish(store, job, 'dead', T0 + 100 + i)
      ids.push(job.id)
    }
    const seen = (await allPages(store, { owner: undefined }, 9)).flat()
    expect([...seen].sort()).toEqual([...ids].sort())
    expect(new Set(seen).size).toBe(seen.length)
    const conversations: string[] = []
    let page = await store.listConversations({ owner: undefined, limit: 11 })
    for (;;) {
      conversations.push(...page.conversations.map((c) => c.owner))
      if (!page.next) break
      page = await store.listConversations({ owner: undefined, limit: 11, after: page.next })
    }
    expect(conversations).toHaveLength(130)
    expect(new Set(conversations).size).toBe(130)
    const first = await store.redeliverMatching({ owner: undefined, status: 'dead' }, 30, T0 + 500)
    expect(first).toEqual({ scheduled: 30, more: true })
    expect(await store.redeliverMatching({ owner: undefined, status: 'dead' }, 30, T0 + 500)).toEqual({
      scheduled: 14,
      more: false,
    })
  })

  describe('listConversations', () => {
    test('most recently active first: by the latest message accepted, with its counters', async () => {
      const { store } = await openStore()
      await accept(store, { conversationId: 'old', now: T0 })
      await accept(store, { conversationId: 'busy', now: T0 + 1 })
      await accept(store, { conversationId: 'quiet', now: T0 + 3 })
      await accept(store, { conversationId: 'busy', now: T0 + 4 })
      await accept(store, { owner: 'bob', conversationId: 'busy', now: T0 + 5 })
      const list = async (owner: string | undefined) =>
        (await store.listConversations({ owner, limit: 10 })).conversations.map((c) => [
          c.owner,
          c.id,
          c.messages,
          c.lastMessageAt,
          c.openJobs,
        ])
      expect(await list('alice')).toEqual([
        ['alice', 'busy', 2, T0 + 4, 2],
        ['alice', 'quiet', 1, T0 + 3, 1],
        ['alice', 'old', 1, T0, 1],
      ])
      expect(await list('bob')).toEqual([['bob', 'busy', 1, T0 + 5, 1]])
      expect((await list(undefined)).map((c) => `${c[0]}/${c[1]}`)).toEqual([
        'bob/busy',
        'alice/busy',
        'alice/quiet',
        'alice/old',
      ])
      // Answers close turns; the order follows what arrives, not what is answered.
      await answerAll(store, T0 + 100)
      expect(await list('alice')).toEqual([
        ['alice', 'busy', 2, T0 + 4, 1],
        ['alice', 'quiet', 1, T0 + 3, 0],
        ['alice', 'old', 1, T0, 0],
      ])
      await accept(store, { conversationId: 'old', now: T0 + 200 })
      expect((await list('alice'))[0]).toEqual(['alice', 'old', 2, T0 + 200, 1])
      // Forgetting the history keeps the conversation and its counters, as the store does.
      expect(await store.deleteConversation('alice', 'quiet')).toBe(true)
      expect((await list('alice')).find((c) => c[1] === 'quiet')).toEqual(['alice', 'quiet', 1, T0 + 3, 0])
    })

    test('pages through every conversation once, ties broken by owner and id', async () => {
      const { store } = await openStore()
      const keys: string[] = []
      for (const owner of ['alice', 'bob'])
        for (let i = 0; i < 5; i++) {
          await accept(store, { owner, conversationId: `conv-${i}`, now: T0 + (i % 2) })
          keys.push(`${owner}/conv-${i}`)
        }
      for (const owner of [undefined, 'alice'] as const) {
        const seen: string[] = []
        let page = await store.listConversations({ owner, limit: 3 })
        for (;;) {
          seen.push(...page.conversations.map((c) => `${c.owner}/${c.id}`))
          if (!page.next) break
          page = await store.listConversations({ owner, limit: 3, after: page.next })
        }
        const expected = keys.filter((k) => owner === undefined || k.startsWith(`${owner}/`))
        expect([...seen].sort()).toEqual([...expected].sort())
        expect(new Set(seen).size).toBe(seen.length)
        // Newest activity first: the odd conversations began a millisecond later.
        const odd = (k: string) => Number(k.slice(-1)) % 2 === 1
        expect(seen.findIndex((k) => !odd(k))).toBe(seen.filter(odd).length)
      }
    })
  })

  describe('redeliverMatching', () => {
    test('schedules matching dead jobs in bounded batches, says when more remain, and is safe to repeat', async () => {
      const { store } = await openStore()
      const dead: Job[] = []
      for (let i = 0; i < 5; i++) {
        const job = await accept(store, { conversationId: `dead-${i}`, now: T0 + i })
        await finish(store, job, 'dead', T0 + 100)
        dead.push(job)
      }
      const delivered = await accept(store, { conversationId: 'fine' })
      await finish(store, delivered, 'delivered', T0 + 100)
      const theirs = await accept(store, { owner: 'bob', conversationId: 'theirs' })
      await finish(store, theirs, 'dead', T0 + 100)
      const waiting = await accept(store, { conversationId: 'open' })

      const filter = { owner: 'alice', status: 'dead' } as const
      expect(await store.redeliverMatching(filter, 2, T0 + 500)).toEqual({ scheduled: 2, more: true })
      expect(await store.redeliverMatching(filter, 2, T0 + 500)).toEqual({ scheduled: 2, more: true })
      expect(await store.redeliverMatching(filter, 2, T0 + 500)).toEqual({ scheduled: 1, more: false })
      expect(await store.redeliverMatching(filter, 2, T0 + 500)).toEqual({ scheduled: 0, more: false })
      for (const job of dead)
        expect(await store.getJob(job.id, 'alice', T0 + 500)).toMatchObject({
          status: 'delivering',
          deliveryFailures: 0,
          deliveryAttempts: 1,
          updatedAt: T0 + 500,
        })
      expect((await store.getJob(delivered.id, 'alice', T0 + 500))?.status).toBe('delivered')
      expect((await store.getJob(theirs.id, 'bob', T0 + 500))?.status).toBe('dead')
      expect((await store.getJob(waiting.id, 'alice', T0 + 500))?.status).toBe('queued')
      // Due at once for the delivery stage.
      const claimed = await store.claimJobs({
        workerId: 'w2',
        now: T0 + 500,
        leaseMs: 1000,
        limit: 10,
        llmLimit: 0,
      })
      expect(claimed.map((j) => j.id).sort()).toEqual(dead.map((j) => j.id).sort())
    })

    test('takes only what the filter names: time range, conversation, owner', async () => {
      const { store } = await openStore()
      const jobs: Job[] = []
      for (let i = 0; i < 4; i++) {
        const job = await accept(store, {
          owner: i === 3 ? 'bob' : 'alice',
          conversationId: `c${i % 2}`,
          now: T0 + 10 * i,
        })
        await finish(store, job, 'dead', T0 + 100)
        jobs.push(job)
      }
      const status = async (job: Job | undefined) =>
        (await store.getJob(job?.id ?? '', job?.owner ?? '', T0 + 300))?.status
      expect(
        await store.redeliverMatching(
          { owner: 'alice', status: 'dead', createdAfter: T0 + 10, createdBefore: T0 + 20 },
          10,
          T0 + 200,
        ),
      ).toEqual({ scheduled: 1, more: false })
      expect(await Promise.all(jobs.map(status))).toEqual(['dead', 'delivering', 'dead', 'dead'])
      // Every owner's dead jobs in conversations c1: alice's was taken already, bob's now.
      expect(
        await store.redeliverMatching(
          { owner: undefined, status: 'dead', conversationId: 'c1' },
          10,
          T0 + 200,
        ),
      ).toEqual({ scheduled: 1, more: false })
      expect(await Promise.all(jobs.map(status))).toEqual(['dead', 'delivering', 'dead', 'delivering'])
      expect(await store.redeliverMatching({ owner: undefined, status: 'dead' }, 10, T0 + 200)).toEqual({
        scheduled: 2,
        more: false,
      })
    })

    test('two instances redelivering at once schedule each job once', async () => {
      const { store, another } = await openStore()
      const other = await another()
      for (let i = 0; i < 12; i++) {
        const job = await accept(store, { conversationId: `c${i}`, now: T0 + i })
        await finish(store, job, 'dead', T0 + 100)
      }
      const filter = { owner: undefined, status: 'dead' } as const
      const results = await Promise.all([
        store.redeliverMatching(filter, 5, T0 + 200),
        other.redeliverMatching(filter, 5, T0 + 200),
        store.redeliverMatching(filter, 5, T0 + 200),
        other.redeliverMatching(filter, 5, T0 + 200),
      ])
      expect(results.reduce((n, r) => n + r.scheduled, 0)).toBe(12)
      expect(await store.listJobs({ owner: undefined, statuses: ['dead'], limit: 50 })).toEqual({
        jobs: [],
        next: null,
      })
    })
  })
})

/** The ids of `jobs` at these indexes. */
function idsAt(jobs: Job[], ...indexes: number[]): string[] {
  return indexes.map((i) => (jobs[i] as Job).id)
}

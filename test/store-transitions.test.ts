import { describe, expect, test } from 'bun:test'
import {
  JOB_EVENTS,
  JOB_STATUSES,
  type JobEvent,
  type JobStatus,
  renderStateDiagram,
  TRANSITIONS,
  transitionFor,
} from '../src/job.ts'
import type { Job, Store } from '../src/store/store.ts'
import { closedAfterEach, LEASE, newJob, storeAdapters, T0 } from './support/stores.ts'

/*
 * The transition table (src/job.ts), walked on both stores: from every status, every event
 * the table allows takes the job to its `to` status, and every other event is refused and
 * changes nothing. Each (status, event) pair runs on a database of its own.
 */

// Without a PostgreSQL to test against, the SQLite half runs and one line says what to start.
const adapters = storeAdapters('PostgresStore walks the transition table')
const opened = closedAfterEach()

/** A job in some status, and the time it is looked at. Worker `w1` is its (last) lease holder. */
interface Subject {
  store: Store
  job: Job
  now: number
}

/** Every subject is accepted with this idempotency key and body hash. */
const THE_REQUEST = { idempotencyKey: 'the-key', requestHash: 'the-body' }
const failure = { code: 'callback_http_status', message: 'The callback answered 500.' } as const
/** Far longer than the leases the walk lets run out. */
const TOOL_RESULTS_TIMEOUT = 100 * LEASE
const attemptAt = (now: number) => ({ at: now, statusCode: 500, error: failure, durationMs: 1 })

/**
 * Each event as the room that causes it calls the store (the client, the worker `w1`, time).
 * True: the store says it acted; undefined: nothing to say (time passing).
 */
const drivers: Record<JobEvent, (s: Subject) => Promise<boolean | undefined>> = {
  // The job exists already: its request again must neither make another nor change it.
  accepted: async ({ store }) => (await store.acceptJob(newJob(THE_REQUEST))).kind === 'created',
  'accepted and claimed': async ({ store }) =>
    (await store.acceptJob(newJob({ ...THE_REQUEST, claimBy: { workerId: 'w1', leaseMs: LEASE } }))).kind ===
    'created',
  claimed: async ({ store, job, now }) =>
    (await store.claimJobs({ workerId: 'w1', now, leaseMs: LEASE, limit: 10, llmLimit: 10 })).some(
      (j) => j.id === job.id,
    ),
  answered: async ({ store, job, now }) =>
    (await store.recordAnswer(job.id, 'w1', { response: 'an answer', model: 'm', usage: null }, now)) !==
    undefined,
  'llm retry': ({ store, job, now }) =>
    store.recordLlmRetry(job.id, 'w1', { code: 'llm_unavailable', message: '503' }, now + 1000, true, now),
  'llm failed': async ({ store, job, now }) =>
    (await store.recordLlmFailure(job.id, 'w1', { code: 'llm_bad_request', message: '400' }, now)) !==
    undefined,
  delivered: ({ store, job, now }) =>
    store.recordDeliveryAttempt(
      job.id,
      'w1',
      { ...attemptAt(now), statusCode: 204, error: null },
      { status: 'delivered' },
    ),
  'delivery retry': ({ store, job, now }) =>
    store.recordDeliveryAttempt(job.id, 'w1', attemptAt(now), { status: 'delivering', retryAt: now + 1000 }),
  'delivery deferred': ({ store, job, now }) => store.deferDelivery(job.id, 'w1', now + 1000, now),
  dead: ({ store, job, now }) =>
    store.recordDeliveryAttempt(job.id, 'w1', attemptAt(now), { status: 'dead' }),
  redelivered: async ({ store, job, now }) => (await store.redeliver(job.id, job.owner, now)) === 'scheduled',
  'lease expired': async (subject) => {
    subject.now += LEASE
    return undefined
  },
  'lease released': ({ store, job, now }) => store.releaseLease(job.id, 'w1', now),
  // An operator or the client, at any moment of the job's life.
  cancelled: async ({ store, job, now }) =>
    (await store.cancelJob(job.id, job.owner, now)).kind === 'cancelled',
  'tool calls': async ({ store, job, now }) =>
    (await store.recordToolCalls(
      job.id,
      'w1',
      {
        rounds: [
          {
            content: '',
            calls: [{ id: 'call_1', name: 'get_order', arguments: '{"number":"A-1"}' }],
            results: null,
            calledAt: now,
            answeredAt: null,
            llmAttempts: 1,
          },
        ],
        usage: null,
        resultsDueAt: now + TOOL_RESULTS_TIMEOUT,
      },
      now,
    )) !== undefined,
  'tool calls attempt': ({ store, job, now }) =>
    store.recordToolCallsAttempt(
      job.id,
      'w1',
      1,
      { ...attemptAt(now), statusCode: 204, error: null },
      { status: 'delivered' },
    ),
  'tool results submitted': async ({ store, job, now }) =>
    (await store.submitToolResults(job.id, job.owner, [{ tool_call_id: 'call_1', content: 'shipped' }], now))
      .kind === 'queued',
  // Time passing past TOOL_RESULTS_TIMEOUT, as the claim loop's sweep sees it (the subject's clock stays).
  'tool results timeout': async ({ store, now }) =>
    (await store.expireToolResults(now + TOOL_RESULTS_TIMEOUT, {
      code: 'tool_results_timeout',
      message: 'No tool results came in time.',
    })) > 0,
}

/** The shortest way to each status through the table, from acceptance. */
function pathTo(status: JobStatus): JobEvent[] {
  const queue: { at: JobStatus; path: JobEvent[] }[] = [{ at: 'queued', path: ['accepted'] }]
  const seen = new Set<JobStatus>(['queued'])
  for (let next = queue.shift(); next; next = queue.shift()) {
    if (next.at === status) return next.path
    // Time passing and giving a lease back are no way to reach a status on purpose.
    for (const t of TRANSITIONS.filter((t) => t.from === next.at && !t.event.startsWith('lease'))) {
      if (seen.has(t.to)) continue
      seen.add(t.to)
      queue.push({ at: t.to, path: [...next.path, t.event] })
    }
  }
  throw new Error(`no path to ${status} in the transition table`)
}

/** Everything a refused event must leave as it was. */
async function snapshot({ store, job, now }: Subject): Promise<unknown> {
  return {
    job: await store.getJob(job.id, job.owner, now),
    attempts: await store.listDeliveryAttempts(job.id),
    history: await store.readHistory(job.owner, job.conversationId, 100),
    jobs: await store.countOpenJobs(),
  }
}

test('every event has a driver, and every status is reached from acceptance', () => {
  expect(Object.keys(drivers).sort()).toEqual([...JOB_EVENTS].sort())
  for (const status of JOB_STATUSES) expect(pathTo(status)[0]).toBe('accepted')
  for (const t of TRANSITIONS) expect(t.guarantee.length).toBeGreaterThan(10)
})

describe.each(adapters)('$name walks the transition table', (adapter) => {
  /**
   * A job in `status`, on a database of its own. Then time moves on by a lease, unless that
   * would change its status (a processing job's lease running out): so a delivering job is
   * due again for its callback, while `w1` is still named its holder.
   */
  async function subjectIn(status: JobStatus): Promise<Subject> {
    const store = await adapter.fresh().open()
    opened.push(store)
    const created = await store.acceptJob(newJob(THE_REQUEST))
    const subject: Subject = { store, job: created.job, now: T0 }
    for (const event of pathTo(status).slice(1)) expect(await drivers[event](subject)).toBe(true)
    const expiry = transitionFor(status, 'lease expired')
    if (expiry === undefined || expiry.to === status) subject.now += LEASE
    return subject
  }

  test('accepted: a new job is queued', async () => {
    const store = await adapter.fresh().open()
    opened.push(store)
    const { kind, job } = await store.acceptJob(newJob())
    expect(kind).toBe('created')
    expect(job.status).toBe(transitionFor(null, 'accepted')?.to as JobStatus)
  })

  test('accepted and claimed: the head of a conversation is leased at once; a message behind it is only queued', async () => {
    const store = await adapter.fresh().open()
    opened.push(store)
    const claimBy = { workerId: 'w1', leaseMs: LEASE }
    const head = await store.acceptJob(newJob({ claimBy }))
    expect(head.job.status).toBe(transitionFor(null, 'accepted and claimed')?.to as JobStatus)
    expect(head.job.llmAttempts).toBe(1)
    const behind = await store.acceptJob(newJob({ claimBy }))
    expect(behind.job.status).toBe('queued')
    // Leased: no claim takes the head again before its lease runs out, and the one behind waits its turn.
    expect(
      await store.claimJobs({ workerId: 'w2', now: T0, leaseMs: LEASE, limit: 10, llmLimit: 10 }),
    ).toEqual([])
    expect(
      await store.recordAnswer(head.job.id, 'w1', { response: 'an answer', model: 'm', usage: null }, T0),
    ).toBeDefined()
    const next = await store.claimJobs({ workerId: 'w2', now: T0, leaseMs: LEASE, limit: 10, llmLimit: 10 })
    expect(next.map((j) => j.id)).toEqual([behind.job.id])
    // A lease that ran out is claimed again, as any other.
    const late = await store.acceptJob(newJob({ conversationId: 'conv-2', claimBy }))
    const again = await store.claimJobs({
      workerId: 'w2',
      now: T0 + LEASE,
      leaseMs: LEASE,
      limit: 10,
      llmLimit: 10,
    })
    expect(again.find((j) => j.id === late.job.id)?.llmAttempts).toBe(2)
  })

  describe.each([...JOB_STATUSES])('from %s', (status) => {
    test.each([...JOB_EVENTS])('%s', async (event) => {
      const subject = await subjectIn(status)
      expect((await subject.store.getJob(subject.job.id, subject.job.owner, subject.now))?.status).toBe(
        status,
      )
      const before = await snapshot(subject)
      const allowed = transitionFor(status, event)
      const acted = await drivers[event](subject)
      if (allowed) {
        if (acted !== undefined) expect(acted).toBe(true)
        const after = await subject.store.getJob(subject.job.id, subject.job.owner, subject.now)
        expect(after?.status).toBe(allowed.to)
      } else {
        if (acted !== undefined) expect(acted).toBe(false)
        expect(await snapshot(subject)).toEqual(before)
      }
    })
  })
})

test('docs/architecture.md shows the state diagram the table renders', async () => {
  const doc = await Bun.file(new URL('../docs/architecture.md', import.meta.url)).text()
  const block = /```mermaid\n(stateDiagram-v2\n[\s\S]*?)\n```/.exec(doc)?.[1]
  expect(block).toBe(renderStateDiagram())
})

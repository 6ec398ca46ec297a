import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import type { JobError } from '../src/job.ts'
import type { BreakerPolicy } from '../src/store/origin-store.ts'
import type { Store } from '../src/store/store.ts'
import { closedAfterEach, storeAdapters, T0 } from './support/stores.ts'

/*
 * The callback origins' breakers, both adapters, real databases: a database of their own per
 * test; its `open` may be called again for another instance (its own connections) on it.
 */

const adapters = storeAdapters('PostgresStore (callback origins)')
const opened = closedAfterEach()

const ORIGIN = 'https://hooks.example.com'
const POLICY: BreakerPolicy = { threshold: 3, probeMs: 60_000 }
const E500: JobError = { code: 'callback_http_status', message: 'The callback answered 500.' }

for (const adapter of adapters) {
  describe(`${adapter.name}: callback origins`, () => {
    const openOn = async (open: () => Promise<Store>) => {
      const store = await open()
      opened.push(store)
      return store
    }
    const fresh = async () => openOn(adapter.fresh().open)

    test('a healthy origin: every delivery goes, a success writes nothing', async () => {
      const { origins } = await fresh()
      expect(await origins.admitDelivery(ORIGIN, T0, POLICY.probeMs)).toEqual({ go: true, probe: false })
      expect(await origins.recordOriginSuccess(ORIGIN, T0)).toBeUndefined()
      expect(await origins.listOrigins()).toEqual([])
    })

    if (adapter.name === 'SqliteStore')
      test('a healthy origin needs no write: admitted and its success recorded while another process holds the write lock', async () => {
        const db = adapter.fresh()
        const { origins } = await openOn(db.open)
        const other = new Database(db.where)
        other.exec('PRAGMA busy_timeout = 0')
        other.exec('BEGIN IMMEDIATE')
        try {
          // A write would wait out the busy timeout and fail with StoreUnavailableError.
          expect(await origins.admitDelivery(ORIGIN, T0, POLICY.probeMs)).toEqual({ go: true, probe: false })
          expect(await origins.recordOriginSuccess(ORIGIN, T0)).toBeUndefined()
        } finally {
          other.exec('ROLLBACK')
          other.close()
        }
      })

    test('failures in a row open the origin; a success before the threshold ends the streak', async () => {
      const { origins } = await fresh()
      await origins.recordOriginFailure(ORIGIN, E500, T0, POLICY)
      await origins.recordOriginFailure(ORIGIN, E500, T0 + 1, POLICY)
      expect(await origins.recordOriginSuccess(ORIGIN, T0 + 2)).toBeUndefined()
      expect((await origins.listOrigins())[0]).toMatchObject({ state: 'closed', failures: 0 })
      expect(await origins.recordOriginFailure(ORIGIN, E500, T0 + 3, POLICY)).toBeUndefined()
      expect(await origins.recordOriginFailure(ORIGIN, E500, T0 + 4, POLICY)).toBeUndefined()
      expect(await origins.recordOriginFailure(ORIGIN, E500, T0 + 5, POLICY)).toBe('opened')
      expect(await origins.recordOriginFailure(ORIGIN, E500, T0 + 6, POLICY)).toBeUndefined()
      expect(await origins.listOrigins()).toEqual([
        {
          origin: ORIGIN,
          state: 'open',
          failures: 4,
          lastError: E500,
          lastFailureAt: T0 + 6,
          openedAt: T0 + 5,
          probeAt: T0 + 5 + POLICY.probeMs,
          backlog: 0,
        },
      ])
    })

    test('open: deliveries wait for the probe time; then one of them is the probe, the others wait again', async () => {
      const { origins } = await fresh()
      for (let i = 0; i < 3; i++) await origins.recordOriginFailure(ORIGIN, E500, T0, POLICY)
      const probeAt = T0 + POLICY.probeMs
      expect(await origins.admitDelivery(ORIGIN, T0 + 10, POLICY.probeMs)).toEqual({
        go: false,
        until: probeAt,
      })
      expect(await origins.admitDelivery(ORIGIN, probeAt, POLICY.probeMs)).toEqual({ go: true, probe: true })
      expect(await origins.admitDelivery(ORIGIN, probeAt, POLICY.probeMs)).toEqual({
        go: false,
        until: probeAt + POLICY.probeMs,
      })
      // Other origins are not held back.
      expect(await origins.admitDelivery('https://other.example', T0, POLICY.probeMs)).toEqual({
        go: true,
        probe: false,
      })
      expect(await origins.recordOriginSuccess(ORIGIN, probeAt + 5)).toBe('closed')
      expect(await origins.admitDelivery(ORIGIN, probeAt + 6, POLICY.probeMs)).toEqual({
        go: true,
        probe: false,
      })
      expect((await origins.listOrigins())[0]).toMatchObject({ state: 'closed', failures: 0, probeAt: null })
    })

    test('closing releases the waiting deliveries of that origin, due at once in acceptance order', async () => {
      const store = await fresh()
      const later = T0 + 3_600_000
      const waiting: string[] = []
      for (let i = 0; i < 3; i++) {
        const origin = i === 1 ? 'https://other.example' : ORIGIN
        const { job } = await store.acceptJob({
          id: `job-${i}`,
          owner: 'o',
          conversationId: `c-${i}`,
          message: 'm',
          callbackUrl: `${origin}/hook/${i}`,
          model: 'm',
          systemPrompt: '',
          metadata: null,
          idempotencyKey: null,
          requestHash: '',
          now: T0 + i,
        })
        if (i !== 1) waiting.push(job.id)
      }
      const claimed = await store.claimJobs({
        workerId: 'w',
        now: T0 + 10,
        leaseMs: 1000,
        limit: 10,
        llmLimit: 10,
      })
      for (const job of claimed.reverse()) {
        await store.recordAnswer(job.id, 'w', { response: 'r', model: 'm', usage: null }, T0 + 10)
        await store.recordDeliveryAttempt(
          job.id,
          'w',
          { at: T0 + 10, statusCode: 500, error: E500, durationMs: 1 },
          { status: 'delivering', retryAt: later },
        )
      }
      for (let i = 0; i < 3; i++) await store.origins.recordOriginFailure(ORIGIN, E500, T0 + 11, POLICY)
      expect((await store.origins.listOrigins()).find((o) => o.origin === ORIGIN)?.backlog).toBe(2)
      expect(await store.origins.recordOriginSuccess(ORIGIN, T0 + 20)).toBe('closed')
      const due = await store.claimJobs({
        workerId: 'w',
        now: T0 + 21,
        leaseMs: 1000,
        limit: 10,
        llmLimit: 0,
      })
      expect(due.map((j) => j.id)).toEqual(waiting)
    })

    if (adapter.name === 'PostgresStore')
      test('two instances at once: one opens the origin, one takes the probe', async () => {
        const open = adapter.fresh().open
        const [a, b] = await Promise.all([openOn(open), openOn(open)])
        const policy = { threshold: 2, probeMs: 1000 }
        const changes = await Promise.all([
          a.origins.recordOriginFailure(ORIGIN, E500, T0, policy),
          b.origins.recordOriginFailure(ORIGIN, E500, T0, policy),
        ])
        expect(changes.filter((c) => c === 'opened')).toHaveLength(1)
        const admissions = await Promise.all(
          [a, b, a, b].map((s) => s.origins.admitDelivery(ORIGIN, T0 + 1000, policy.probeMs)),
        )
        expect(admissions.filter((x) => x.go)).toHaveLength(1)
        const closes = await Promise.all([
          a.origins.recordOriginSuccess(ORIGIN, T0 + 1001),
          b.origins.recordOriginSuccess(ORIGIN, T0 + 1001),
        ])
        expect(closes.filter((c) => c === 'closed')).toHaveLength(1)
      })
  })
}

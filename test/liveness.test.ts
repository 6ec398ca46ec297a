import { afterAll, afterEach, expect } from 'bun:test'
import { createLogger } from '../src/log.ts'
import type { Store } from '../src/store/store.ts'
import { HEARTBEAT_EVERY_MS, Liveness, SILENT_FOR_MS } from '../src/worker/liveness.ts'
import { ManualClock } from './support/manual-clock.ts'
import { postgres, testIf } from './support/postgres.ts'
import { LEASE, newJob, postgresAdapter } from './support/stores.ts'

/* The liveness timer on a manual clock, against a real PostgreSQL fleet of two instances. */
const test = testIf(postgres, 'the liveness timer on PostgreSQL')

const pgStores = postgresAdapter()
const opened: Store[] = []
const timers: Liveness[] = []
afterEach(async () => {
  await Promise.all(timers.splice(0).map((t) => t.stop()))
  await Promise.all(opened.splice(0).map((s) => s.close()))
})
afterAll(() => pgStores.dispose())

test('a live instance heartbeats every 2 s; the other takes its jobs once it has been silent 8 s, and wakes its worker', async () => {
  const clock = new ManualClock()
  const db = pgStores.fresh()
  const [a, b] = [await db.open(), await db.open()]
  opened.push(a, b)
  const lines: string[] = []
  const logger = createLogger('info', { write: (line: string) => lines.push(line) } as never)
  let wakes = 0
  const liveness = (store: Store, workerId: string) => {
    const l = new Liveness({ store, clock, logger, workerId, onRecovered: () => wakes++ })
    timers.push(l)
    return l
  }
  const aliveA = liveness(a, 'a')
  const aliveB = liveness(b, 'b')
  await aliveA.start()
  await aliveB.start()
  /** One heartbeat interval, with the rounds it started done (they talk to a real server). */
  const tick = async () => {
    await clock.advance(HEARTBEAT_EVERY_MS)
    await Promise.all([aliveA.settled(), aliveB.settled()])
  }
  await a.acceptJob(newJob({ id: 'held-by-a', now: clock.now() }))
  await a.claimJobs({ workerId: 'a', now: clock.now(), leaseMs: LEASE, limit: 1, llmLimit: 1 })

  // While a beats, nothing of it is taken, however long.
  for (let i = 0; i < 10; i++) await tick()
  expect(wakes).toBe(0)
  expect((await b.getJob('held-by-a', 'owner-a', clock.now()))?.status).toBe('processing')

  await aliveA.stop()
  for (let silent = 0; silent < SILENT_FOR_MS; silent += HEARTBEAT_EVERY_MS) await tick()
  expect(wakes).toBe(0) // exactly 8 s of silence is not yet death
  await tick()
  expect(wakes).toBe(1)
  expect(await b.getJob('held-by-a', 'owner-a', clock.now())).toMatchObject({
    status: 'queued',
    llmAttempts: 1,
  })
  expect(lines.join('')).toContain('released the leases of a worker that died')
})

import { afterAll, describe, expect, test } from 'bun:test'
import { RedisClient } from 'bun'
import { systemClock } from '../src/clock.ts'
import type { CallBudget } from '../src/limits/call-budget.ts'
import type { Limits } from '../src/limits/limits.ts'
import { openPostgresLimits } from '../src/limits/postgres.ts'
import type { RateLimitStore } from '../src/limits/rate-limit-store.ts'
import { openRedisLimits } from '../src/limits/redis.ts'
import { createLogger } from '../src/log.ts'
import {
  dropSchema,
  freshSchema,
  POSTGRES_URL,
  postgres,
  REDIS_URL,
  redis,
  reportUnavailable,
} from './support/postgres.ts'

interface Fleet {
  /** Two instances' views of one shared budget and rate limit. */
  budgets(perMinute: number): Promise<[CallBudget, CallBudget]>
  rateLimits(): Promise<[RateLimitStore, RateLimitStore]>
  close(): Promise<void>
}

const quiet = createLogger('silent')

/** Two instances' limits on one backing, opened as main.ts opens them. */
const fleetOf = (
  open: (perMinute: number, n: number) => Promise<Limits>,
  cleanUp: () => Promise<void>,
): Fleet => {
  const opened: Limits[] = []
  let n = 0
  const pair = async (perMinute: number) => {
    const at = n++
    const both = [await open(perMinute, at), await open(perMinute, at)] as const
    opened.push(...both)
    return both
  }
  return {
    async budgets(perMinute) {
      const [a, b] = await pair(perMinute)
      return [a.budget, b.budget]
    },
    async rateLimits() {
      const [a, b] = await pair(0)
      return [a.rateLimit, b.rateLimit]
    },
    async close() {
      await Promise.all(opened.map((l) => l.close()))
      await cleanUp()
    },
  }
}

const redisFleet = async (): Promise<Fleet> => {
  const prefix = `llm-relay-test:${crypto.randomUUID()}`
  const options = { clock: systemClock, logger: quiet }
  return fleetOf(
    (perMinute, n) => openRedisLimits(REDIS_URL, { ...options, perMinute, prefix: `${prefix}:${n}` }),
    async () => {
      const cleaner = new RedisClient(REDIS_URL)
      const keys = (await cleaner.send('KEYS', [`${prefix}*`])) as string[]
      if (keys.length > 0) await cleaner.send('DEL', keys)
      cleaner.close()
    },
  )
}

const postgresFleet = async (): Promise<Fleet> => {
  const schemas: string[] = []
  return fleetOf(
    (perMinute, n) => {
      schemas[n] ??= freshSchema('relay_limits')
      const schema = schemas[n] as string
      return openPostgresLimits(POSTGRES_URL, { schema, perMinute, clock: systemClock, logger: quiet })
    },
    async () => {
      await Promise.all(schemas.map(dropSchema))
    },
  )
}

// Each backing that does not answer leaves one line saying what to start.
const fleets = [
  [redis, redisFleet],
  [postgres, postgresFleet],
] as const
for (const [backing] of fleets)
  if (!backing.available) reportUnavailable(backing, `fleet-wide limits on ${backing.name}`)
const answering = fleets.filter(([backing]) => backing.available).map(([b, open]) => [b.name, open] as const)

describe.each(answering)('fleet-wide limits on %s', (_name, open) => {
  let fleet: Fleet
  afterAll(() => fleet?.close())

  test('two instances together never start more LLM calls a minute than LLM_MAX_RPM', async () => {
    fleet = await open()
    const [a, b] = await fleet.budgets(5)
    const now = 1_000_000
    expect(await a.take(3, now)).toBe(3)
    expect(await b.take(5, now + 1)).toBe(2)
    expect(await a.take(1, now + 2)).toBe(0)
    expect(await b.nextSlotAt(now + 3)).toBe(now + 60_000)
    // Slots a claim did not use go back to the fleet.
    await b.giveBack(2, now + 4)
    expect(await a.take(5, now + 5)).toBe(2)
    // A minute on, the first slots are free again.
    expect(await b.take(5, now + 60_000)).toBe(3)
  })

  test('racing instances share the budget exactly', async () => {
    const [a, b] = await fleet.budgets(20)
    const now = 2_000_000
    const grants = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take(1, now)))
    expect(grants.reduce((x, y) => x + y, 0)).toBe(20)
  })

  test('a quota pause by one instance holds the other', async () => {
    const [a, b] = await fleet.budgets(0)
    const now = Date.now()
    expect(await b.take(4, now)).toBe(4)
    await a.pauseUntil(now + 30_000)
    // Without a per-minute limit, an instance looks for a pause at most once a second.
    expect(await b.take(4, now + 1000)).toBe(0)
    expect(await b.nextSlotAt(now + 1000)).toBe(now + 30_000)
    expect(await a.take(1, now + 1)).toBe(0)
  })

  test('the API rate limit counts one client across instances', async () => {
    const [a, b] = await fleet.rateLimits()
    a.init({ duration: 60_000 } as never)
    b.init({ duration: 60_000 } as never)
    expect((await a.increment('key:alice')).count).toBe(1)
    expect((await b.increment('key:alice')).count).toBe(2)
    const third = await a.increment('key:alice')
    expect(third.count).toBe(3)
    expect(third.nextReset.getTime()).toBeGreaterThan(Date.now())
    expect((await b.increment('key:bob')).count).toBe(1)
    await b.decrement('key:alice')
    expect((await a.increment('key:alice')).count).toBe(3)
  })
})

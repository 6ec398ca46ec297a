import { afterAll, describe, expect, test } from 'bun:test'
import type { Context as RateLimitContext } from 'elysia-rate-limit'
import type { CallBudget } from '../src/limits/call-budget.ts'
import { openRedis, RedisCallBudget, RedisRateLimitContext } from '../src/limits/redis.ts'
import { PostgresStore } from '../src/store/postgres.ts'
import { dropSchema, freshSchema, POSTGRES_URL, REDIS_URL } from './support/postgres.ts'

interface Fleet {
  /** Two instances' views of one shared budget and rate limit. */
  budgets(perMinute: number): Promise<[CallBudget, CallBudget]>
  rateLimits(): Promise<[RateLimitContext, RateLimitContext]>
  close(): Promise<void>
}

const redisFleet = async (): Promise<Fleet> => {
  const a = openRedis(REDIS_URL)
  const b = openRedis(REDIS_URL)
  const prefix = `llm-relay-test:${crypto.randomUUID()}`
  let n = 0
  return {
    async budgets(perMinute) {
      const p = `${prefix}:${n++}`
      return [new RedisCallBudget(a, perMinute, p), new RedisCallBudget(b, perMinute, p)]
    },
    async rateLimits() {
      const p = `${prefix}:rate:${n++}`
      return [new RedisRateLimitContext(a, p), new RedisRateLimitContext(b, p)]
    },
    async close() {
      const keys = (await a.send('KEYS', [`${prefix}*`])) as string[]
      if (keys.length > 0) await a.send('DEL', keys)
      a.close()
      b.close()
    },
  }
}

const postgresFleet = async (): Promise<Fleet> => {
  const schemas: string[] = []
  const stores: PostgresStore[] = []
  const pair = async () => {
    const schema = freshSchema('relay_limits')
    schemas.push(schema)
    const a = await PostgresStore.open(POSTGRES_URL, { schema, max: 2 })
    const b = await PostgresStore.open(POSTGRES_URL, { schema, max: 2 })
    stores.push(a, b)
    return [a, b] as const
  }
  return {
    async budgets(perMinute) {
      const [a, b] = await pair()
      return [a.fleetLimits(perMinute).budget, b.fleetLimits(perMinute).budget]
    },
    async rateLimits() {
      const [a, b] = await pair()
      return [a.fleetLimits(0).rateLimit, b.fleetLimits(0).rateLimit]
    },
    async close() {
      await Promise.all(stores.map((s) => s.close()))
      await Promise.all(schemas.map(dropSchema))
    },
  }
}

describe.each([
  ['Redis', redisFleet],
  ['PostgreSQL', postgresFleet],
] as const)('fleet-wide limits on %s', (_name, open) => {
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

import { expect, test } from 'bun:test'
import { Writable } from 'node:stream'
import { MemoryRateLimitStore } from '../src/limits/rate-limit-store.ts'
import { openRedisLimits } from '../src/limits/redis.ts'
import { createLogger } from '../src/log.ts'
import { freePort } from './support/free-port.ts'
import { ManualClock } from './support/manual-clock.ts'
import { eventually } from './support/signal.ts'

function capturedLogger() {
  const lines: string[] = []
  const logger = createLogger(
    'debug',
    new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk))
        done()
      },
    }),
  )
  return { logger, lines }
}

test('the in-memory rate-limit store counts fixed windows on the clock, and keeps at most maxKeys clients', async () => {
  const clock = new ManualClock()
  const store = new MemoryRateLimitStore(clock, 2)
  store.init({ duration: 10_000 })
  const start = clock.now()
  expect(await store.increment('a')).toEqual({ count: 1, nextReset: new Date(start + 10_000), start })
  await clock.advance(4000)
  expect((await store.increment('a')).count).toBe(2)
  await store.decrement('a')
  expect((await store.increment('a')).count).toBe(2)
  await clock.advance(6000)
  // The window is over: a new one starts now.
  expect(await store.increment('a')).toEqual({
    count: 1,
    nextReset: new Date(clock.now() + 10_000),
    start: clock.now(),
  })
  expect((await store.increment('b')).count).toBe(1)
  // A third client makes room by forgetting the oldest window (a's).
  expect((await store.increment('c')).count).toBe(1)
  expect((await store.increment('b')).count).toBe(2)
  expect((await store.increment('a')).count).toBe(1)
})

test('with Redis out of reach from the start, the limits count per instance and say so once', async () => {
  const clock = new ManualClock()
  const { logger, lines } = capturedLogger()
  // Nothing listens there: every connect is refused at once.
  const limits = await openRedisLimits(`redis://127.0.0.1:${freePort()}`, { perMinute: 2, clock, logger })
  try {
    const now = clock.now()
    expect(await limits.budget.take(5, now)).toBe(2)
    expect(await limits.budget.take(1, now + 1)).toBe(0)
    expect(await limits.budget.nextSlotAt(now + 2)).toBe(now + 60_000)
    // A quota pause learned during the outage holds this instance.
    await limits.budget.pauseUntil(now + 120_000)
    expect(await limits.budget.take(1, now + 61_000)).toBe(0)
    limits.rateLimit.init({ duration: 60_000 } as never)
    for (const n of [1, 2, 3]) expect((await limits.rateLimit.increment('key:alice')).count).toBe(n)
    expect(await limits.dependencies[0]?.isUp()).toBe(false)
    // The reconnects go on, on the clock, without another warning.
    await eventually(async () => {
      await clock.advance(2000)
      return lines.filter((l) => l.includes('"redis connection failed"')).length > 3
    }, 'more failed reconnects')
    expect(lines.filter((l) => l.includes('redis is out of reach')).length).toBe(1)
  } finally {
    await limits.close()
  }
})

import { afterAll, expect } from 'bun:test'
import { databaseUrl, dropSchema, freshSchema, postgres, testIf } from './support/postgres.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

// Two instances on one PostgreSQL schema share each origin's breaker.
const test = testIf(postgres, 'the callback breaker across a PostgreSQL fleet')
const schema = freshSchema('relay_breaker')
const relays: TestRelay[] = []
afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()))
  await dropSchema(schema)
})

test('two instances: one breaker per origin, one probe at a time, every attempt counted once', async () => {
  const env = {
    DATABASE_URL: databaseUrl(schema),
    DATABASE_POOL_MAX: '4',
    CALLBACK_BREAKER_FAILURES: '3',
    CALLBACK_BREAKER_PROBE: '400ms',
    CALLBACK_RETRY_SCHEDULE: '100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms',
  }
  const a = await startTestRelay(env)
  relays.push(a)
  const b = await startTestRelay(env)
  relays.push(b)
  const receiver = a.sink
  receiver.fail(500)
  const sendVia = async (relay: TestRelay, message: string) => {
    const response = await relay.post({
      message,
      callback_url: `${receiver.url}/hook`,
      conversation_id: message,
    })
    expect(response.status).toBe(202)
    return ((await response.json()) as { id: string }).id
  }
  const ids = [await sendVia(a, 'm1'), await sendVia(b, 'm2'), await sendVia(a, 'm3'), await sendVia(b, 'm4')]
  const origin = new URL(receiver.url).origin
  const breaker = async () => (await a.store.origins.listOrigins()).find((o) => o.origin === origin)
  await eventually(async () => (await breaker())?.state === 'open', 'the origin to open', 10_000)

  // While open: a probe comes, and never more than one per 400 ms fleet-wide (however slow the
  // machine, a slower one only sends fewer).
  const whenOpened = receiver.received.length
  const openedAt = performance.now()
  await receiver.signal.until(() => receiver.received.length > whenOpened, 'a probe', 10_000)
  await Bun.sleep(1200)
  const elapsed = performance.now() - openedAt
  expect(receiver.received.length - whenOpened).toBeLessThanOrEqual(Math.ceil(elapsed / 400) + 1)

  receiver.recover()
  const views = await eventually(
    async () => {
      const all = await Promise.all(ids.map((id) => a.job(id)))
      return all.every((v) => v.status === 'delivered') && all
    },
    'every job delivered',
    20_000,
  )
  // Every attempt that reached the receiver is counted, once; waiting counted none.
  for (const view of views) expect(view.attempts.delivery).toBe(receiver.forJob(view.id).length)
  expect((await breaker())?.state).toBe('closed')
  const deferred = await Promise.all([a, b].map(async (r) => (await fetch(`${r.url}/metrics`)).text()))
  expect(deferred.join('\n')).toMatch(/llm_relay_deliveries_deferred_total\{reason="open"\} [1-9]/)
}, 40_000)

import { afterAll, beforeAll, expect } from 'bun:test'
import { postgresServerBinaries, testIf } from './support/postgres.ts'
import { PostgresServer } from './support/postgres-server.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

// A relay on a PostgreSQL cluster of this test's own (its limits too: no REDIS_URL), which the
// test stops and starts again; the relay is not restarted.
let postgres: PostgresServer
let relay: TestRelay

// Without the server binaries, one line says what to install instead.
const test = testIf(postgresServerBinaries, 'a PostgreSQL outage')

beforeAll(async () => {
  if (!postgresServerBinaries.available) return
  postgres = await PostgresServer.start()
  relay = await startTestRelay({
    DATABASE_URL: postgres.url,
    DATABASE_POOL_MAX: '4',
    RATE_LIMIT_MAX: '100',
    LLM_MAX_RPM: '100',
  })
})

afterAll(async () => {
  try {
    await relay?.close()
  } finally {
    await postgres?.remove()
  }
})

/** Every request of this file must answer within 3 s, database or not: a hang fails the test. */
const call = (path: string, init: RequestInit = {}) =>
  fetch(`${relay.url}${path}`, { ...init, signal: AbortSignal.timeout(3000) })

const ready = async () => {
  const response = await call('/ready')
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as { status: string; checks: Record<string, string> },
  }
}

const logLines = (msg: string) => relay.logs.filter((line) => line.includes(msg)).length

test('PostgreSQL stopped and started again: /ready 503 naming the database while it is down, 200 after, no restart', async () => {
  expect((await ready()).body).toEqual({ status: 'ready', checks: { accepting: 'pass', database: 'pass' } })
  const before = await relay.send('before the outage')
  await relay.sink.waitForJob(before.id)

  await postgres.stop()
  const during = await ready()
  expect(during.status).toBe(503)
  expect(during.retryAfter).toBe('5')
  expect(during.body).toEqual({ status: 'unavailable', checks: { accepting: 'pass', database: 'fail' } })
  expect((await call('/health')).status).toBe(200)
  const metrics = await call('/metrics')
  expect(metrics.status).toBe(200)
  expect(await metrics.text()).toContain('llm_relay_dependency_up{dependency="database"} 0')
  // Nothing can be accepted without the database; the answer comes at once and is no 202.
  const refused = await call('/webhook', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'during the outage', callback_url: `${relay.sink.url}/hook` }),
  })
  expect(refused.status).toBe(503)
  expect(refused.headers.get('retry-after')).toBe('5')
  expect(refused.headers.get('content-type')).toStartWith('application/problem+json')
  // The fleet-wide limits live in the same database: they fell back to this instance's, once.
  expect(logLines('postgres is out of reach')).toBe(1)

  await postgres.restart()
  await eventually(async () => (await ready()).status === 200, 'ready once PostgreSQL is back', 20_000)
  const after = await relay.send('after the outage')
  const [callback] = await relay.sink.waitForJob(after.id)
  expect(callback?.body.data.response).toBe('echo: after the outage')
  expect(logLines('postgres is back')).toBe(1)
  expect(await (await call('/metrics')).text()).toContain('llm_relay_dependency_up{dependency="database"} 1')
})

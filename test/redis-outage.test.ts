import { afterAll, beforeAll, expect } from 'bun:test'
import { redisServerBinary, testIf } from './support/postgres.ts'
import { RedisServer } from './support/redis-server.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

// Two relays keep their limits in a Redis of this test's own, which the test kills, restarts,
// pauses and resumes; neither relay is restarted.
let redis: RedisServer
let a: TestRelay
let b: TestRelay

// One key per phase, so each phase's rate-limit count starts from nothing.
const KEYS = {
  during: 'during-key-0123456789abcdef',
  walker: 'walker-key-0123456789abcdef',
  after: 'after-key-0123456789abcdef00',
  paused: 'paused-key-0123456789abcdef',
}
const RATE_LIMIT_MAX = 3
// Bun's RedisClient gives up for good after maxRetries (20) failed reconnects.
const BUN_MAX_RETRIES = 20

// Without the server binaries, one line says what to install instead.
const test = testIf(redisServerBinary, 'a Redis outage')

beforeAll(async () => {
  if (!redisServerBinary.available) return
  redis = await RedisServer.start()
  const env = {
    REDIS_URL: redis.url,
    RATE_LIMIT_MAX: String(RATE_LIMIT_MAX),
    RATE_LIMIT_WINDOW: '1m',
    API_KEYS: Object.entries(KEYS)
      .map(([name, key]) => `${name}:${key}`)
      .join(','),
  }
  // A short backoff, so that an outage of a second or two spans more failed reconnects than
  // Bun's own client survives.
  const parts = { redisBackoff: { firstDelayMs: 10, maxDelayMs: 50 } }
  a = await startTestRelay(env, parts)
  b = await startTestRelay(env, parts)
})

afterAll(async () => {
  try {
    await Promise.all([a?.close(), b?.close()])
  } finally {
    await redis?.stop()
  }
})

/** Every request of this file must answer within 3 s, Redis or not: a hang fails the test. */
const call = (url: string, init: RequestInit = {}) =>
  fetch(url, { ...init, signal: AbortSignal.timeout(3000) })

const post = (relay: TestRelay, key: string, message: string) =>
  call(`${relay.url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ message, callback_url: `${relay.sink.url}/hook` }),
  })

const ready = async (relay: TestRelay) => {
  const response = await call(`${relay.url}/ready`)
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as { status: string; checks: Record<string, string> },
  }
}

const dependencyGauge = async (relay: TestRelay) => {
  const response = await call(`${relay.url}/metrics`, { headers: { authorization: `Bearer ${KEYS.walker}` } })
  return /llm_relay_dependency_up\{dependency="redis"\} (\d)/.exec(await response.text())?.[1]
}

const logLines = (relay: TestRelay, msg: string) => relay.logs.filter((line) => line.includes(msg)).length
const OUT = 'redis is out of reach'
const BACK = 'redis is back'

test('Redis killed for longer than Bun would reconnect: requests answer, limits count per instance, /ready says so; healed when it returns', async () => {
  expect((await ready(a)).body).toEqual({
    status: 'ready',
    checks: { accepting: 'pass', database: 'pass', redis: 'pass' },
  })

  await redis.kill()
  await eventually(
    async () => logLines(a, 'redis connection failed') > BUN_MAX_RETRIES,
    `more than ${BUN_MAX_RETRIES} failed reconnects`,
  )

  // /ready names the missing dependency.
  for (const relay of [a, b]) {
    const during = await ready(relay)
    expect(during.status).toBe(503)
    expect(during.retryAfter).toBe('5')
    expect(during.body).toEqual({
      status: 'unavailable',
      checks: { accepting: 'pass', database: 'pass', redis: 'fail' },
    })
  }

  expect(await dependencyGauge(a)).toBe('0')

  // Intake goes on, each instance counting the rate limit on its own.
  for (let n = 1; n <= RATE_LIMIT_MAX; n++)
    expect((await post(a, KEYS.during, `during ${n}`)).status).toBe(202)
  expect((await post(a, KEYS.during, 'one too many for a')).status).toBe(429)
  expect((await post(b, KEYS.during, 'b counts for itself')).status).toBe(202)

  // The worker goes on too (its LLM budget counts locally); reading a job needs no Redis.
  const accepted = await post(a, KEYS.walker, 'answered while redis is out')
  expect(accepted.status).toBe(202)
  const { id } = (await accepted.json()) as { id: string }
  const [callback] = await a.sink.waitForJob(id)
  expect(callback?.body.type).toBe('job.completed')
  const job = await call(`${a.url}/jobs/${id}`, { headers: { authorization: `Bearer ${KEYS.walker}` } })
  expect(job.status).toBe(200)
  expect(((await job.json()) as { response: string }).response).toBe('echo: answered while redis is out')

  // Said once, not once a request or a reconnect.
  expect(logLines(a, OUT)).toBe(1)
  expect(logLines(a, BACK)).toBe(0)

  await redis.restart()
  for (const relay of [a, b])
    await eventually(async () => (await ready(relay)).status === 200, 'ready again once redis is back')
  expect(logLines(a, BACK)).toBe(1)
  expect(logLines(b, BACK)).toBe(1)
  expect(await dependencyGauge(a)).toBe('1')

  // Fleet-wide again: the two relays share one count.
  expect((await post(a, KEYS.after, 'after 1')).status).toBe(202)
  expect((await post(b, KEYS.after, 'after 2')).status).toBe(202)
  expect((await post(a, KEYS.after, 'after 3')).status).toBe(202)
  const over = await post(b, KEYS.after, 'after 4')
  expect(over.status).toBe(429)
  expect(over.headers.get('retry-after')).not.toBeNull()
})

test('a Redis that stops answering costs a request at most its command timeout; /ready 503 until it answers again', async () => {
  await eventually(async () => (await ready(a)).status === 200, 'ready before the pause')
  redis.pause()
  try {
    // The first request waits for the command timeout; the dropped connection answers the rest at once.
    for (let n = 1; n <= RATE_LIMIT_MAX; n++)
      expect((await post(a, KEYS.paused, `paused ${n}`)).status).toBe(202)
    expect((await post(a, KEYS.paused, 'over the local limit')).status).toBe(429)
    const during = await ready(a)
    expect(during.status).toBe(503)
    expect(during.body.checks.redis).toBe('fail')
    expect(logLines(a, OUT)).toBe(2)
  } finally {
    redis.resume()
  }
  await eventually(async () => (await ready(a)).status === 200, 'ready once redis answers again')
  expect(logLines(a, BACK)).toBe(2)
})

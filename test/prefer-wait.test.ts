import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { SqliteStore } from '../src/store/sqlite.ts'
import { databaseUrl, dropSchemas, freshSchema, postgres, testIf } from './support/postgres.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay()
})
afterAll(() => relay.close())

const body = (message: string) => ({
  message,
  callback_url: `${relay.sink.url}/hook`,
  conversation_id: message.replace(/[^A-Za-z0-9]/g, '-'),
})

test('Prefer: wait answered in time: 200 with the job and its answer, and the callback is still sent', async () => {
  const response = await relay.post(body('wait for me'), { prefer: 'wait=10' })
  expect(response.status).toBe(200)
  expect(response.headers.get('preference-applied')).toBe('wait=10')
  const job = (await response.json()) as { id: string; response: string; status: string; status_url: string }
  expect(job.response).toBe('echo: wait for me')
  expect(['delivering', 'delivered']).toContain(job.status)
  expect(job.status_url).toBe(`${relay.url}/jobs/${job.id}`)
  const [callback] = await relay.sink.waitForJob(job.id)
  expect(callback?.body.data.response).toBe('echo: wait for me')
})

test('Prefer: wait not answered in time: 202 as usual, saying how long it waited; the answer follows by callback', async () => {
  const held = relay.llm.hold()
  const response = await relay.post(body('too slow'), { prefer: 'wait=1' })
  expect(response.status).toBe(202)
  expect(response.headers.get('preference-applied')).toBe('wait=1')
  const { id } = (await response.json()) as { id: string }
  held.release()
  const [callback] = await relay.sink.waitForJob(id)
  expect(callback?.body.type).toBe('job.completed')
})

test('a wait above 30 s is cut to 30, and a failed job ends the wait too', async () => {
  relay.llm.next(() => Response.json({ error: { message: 'bad key', code: 401 } }, { status: 401 }))
  const response = await relay.post(body('fails fast'), { prefer: 'wait=3600' })
  expect(response.headers.get('preference-applied')).toBe('wait=30')
  expect(response.status).toBe(200)
  const job = (await response.json()) as { error: { code: string } | null; response: string | null }
  expect(job.response).toBeNull()
  expect(job.error?.code).toBe('llm_auth')
})

test('without Prefer, or with one it does not read, nothing waits', async () => {
  for (const prefer of [undefined, 'respond-async', 'wait=soon']) {
    const response = await relay.post(body(`no wait ${prefer}`), prefer ? { prefer } : {})
    expect(response.status).toBe(202)
    expect(response.headers.get('preference-applied')).toBeNull()
    await relay.sink.waitForJob(((await response.json()) as { id: string }).id)
  }
})

/** `llm_relay_waiting_requests` from /metrics: the requests this process holds under Prefer: wait. */
async function waitingRequests(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const match = /^llm_relay_waiting_requests (\d+)$/m.exec(text)
  if (!match) throw new Error('no llm_relay_waiting_requests in /metrics')
  return Number(match[1])
}

test('a client that disconnects while it waits lets go of its waiter at once; the job goes on and its callback is sent', async () => {
  const held = relay.llm.hold()
  const client = new AbortController()
  const request = fetch(`${relay.url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=30' },
    body: JSON.stringify(body('hang up on me')),
    signal: client.signal,
  }).catch((error: unknown) => error)
  await held.received
  await eventually(async () => (await waitingRequests(relay.url)) === 1, 'the request to wait')
  client.abort()
  expect(await request).toBeInstanceOf(Error)
  // Long before its 30 s are up.
  await eventually(async () => (await waitingRequests(relay.url)) === 0, 'the waiter to go', 5000)
  held.release()
  await eventually(
    async () => relay.sink.received.some((c) => c.body.data.response === 'echo: hang up on me'),
    'the callback of the abandoned wait',
  )
})

test('on shutdown: a job answered while the relay drains answers its waiter (200), every other waiter gets its 202 as the relay stops', async () => {
  const own = await startTestRelay({ SHUTDOWN_TIMEOUT: '20s' })
  try {
    const held = own.llm.hold()
    const send = (message: string) =>
      own.post(
        { message, callback_url: `${own.sink.url}/hook`, conversation_id: 'stopping' },
        { prefer: 'wait=30' },
      )
    // The first holds the LLM call; the second waits its conversation's turn behind it, which
    // this relay, draining, will not take.
    const running = send('running when it stops')
    await held.received
    const behind = send('queued when it stops')
    await eventually(async () => (await waitingRequests(own.url)) === 2, 'both requests to wait')
    const stopped = own.stop()
    await eventually(async () => (await fetch(`${own.url}/ready`)).status === 503, 'the relay to drain')
    held.release()
    const answered = await running
    expect(answered.status).toBe(200)
    expect(((await answered.json()) as { response: string }).response).toBe('echo: running when it stops')
    // Its 28-odd seconds of waiting left hold nothing up: the stop ends with the drain.
    await stopped
    const released = await behind
    expect(released.status).toBe(202)
    expect(released.headers.get('preference-applied')).toBe('wait=30')
    expect(((await released.json()) as { status: string }).status).toBe('queued')
  } finally {
    await own.close()
  }
})

/*
 * The waiter in one process, the answer written by another on the same database: only the
 * store can tell the first (settledAmong, once a second).
 */
const waitElsewhere = (api: TestRelay, message: string) =>
  api.post(
    { message, callback_url: `${api.sink.url}/hook`, conversation_id: 'elsewhere' },
    { prefer: 'wait=20' },
  )

test('SQLite, two processes on one file: the api process learns from the store of an answer the other wrote', async () => {
  const api = await startTestRelay({ RELAY_ROLE: 'api' })
  const other = new SqliteStore(join(api.dir, 'relay.db'))
  try {
    const response = waitElsewhere(api, 'answer me elsewhere')
    await eventually(async () => (await waitingRequests(api.url)) === 1, 'the request to wait')
    const [job] = await other.claimJobs({
      workerId: 'other',
      now: Date.now(),
      leaseMs: 30_000,
      limit: 1,
      llmLimit: 1,
    })
    if (!job) throw new Error('nothing to claim')
    await other.recordAnswer(
      job.id,
      'other',
      { response: 'from the other process', model: 'm', usage: null },
      Date.now(),
    )
    const answered = await response
    expect(answered.status).toBe(200)
    expect(await answered.json()).toMatchObject({
      id: job.id,
      status: 'delivering',
      response: 'from the other process',
    })
    expect(api.llm.calls.length).toBe(0)
  } finally {
    await other.close()
    await api.close()
  }
})

const schemas: string[] = []
afterAll(() => dropSchemas(schemas))
testIf(postgres)(
  'PostgreSQL, an api and a worker instance: the api instance learns of the answer from the store',
  async () => {
    const schema = freshSchema('relay_wait')
    schemas.push(schema)
    const api = await startTestRelay({ RELAY_ROLE: 'api', DATABASE_URL: databaseUrl(schema) })
    const worker = await startTestRelay({ RELAY_ROLE: 'worker', DATABASE_URL: databaseUrl(schema) })
    try {
      const response = await waitElsewhere(api, 'answer me elsewhere')
      expect(response.status).toBe(200)
      const job = (await response.json()) as { id: string; response: string }
      expect(job.response).toBe('echo: answer me elsewhere')
      expect(worker.llm.calls.length).toBe(1)
      expect(api.llm.calls.length).toBe(0)
      await api.sink.waitForJob(job.id)
    } finally {
      await api.close()
      await worker.close()
    }
  },
)

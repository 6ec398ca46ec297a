import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { apiError } from './support/fake-llm.ts'
import { startTestRelay, TEST_LLM_KEY, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

const ALICE = 'alice-key-0123456789abcdef'
const BOB = 'bob-key-0123456789abcdefgh'
const SECRET = `whsec_${Buffer.from('security-test-signing-secret-123').toString('base64')}`
const DATA_KEY = Buffer.alloc(32, 42).toString('base64')
/** A receiver's own token, sent as a callback header: the receiver may see it, nobody else. */
const RECEIVER_TOKEN = 'receiver-token-5f0c2a9e1d7b4c3a'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay({
    API_KEYS: `alice:${ALICE},bob:${BOB}`,
    CALLBACK_SECRET: SECRET,
    DATA_ENCRYPTION_KEY: `k1:${DATA_KEY}`,
    LOG_LEVEL: 'trace',
  })
})
afterAll(() => relay.close())

const as = (key: string) => ({ authorization: `Bearer ${key}` })
const send = async (key: string, body: Record<string, unknown>) => {
  const response = await relay.post({ callback_url: `${relay.sink.url}/hook`, ...body }, as(key))
  expect(response.status).toBe(202)
  return (await response.json()) as { id: string; conversation_id: string }
}

describe('API keys', () => {
  test('a request without a key, or with a wrong one, is a 401 problem that asks for a bearer token', async () => {
    for (const headers of [{}, as('wrong-key-0123456789abcdef'), { authorization: 'Basic YWxpY2U6eA==' }]) {
      const before = relay.countJobs()
      const response = await relay.post({ message: 'hi', callback_url: `${relay.sink.url}/hook` }, headers)
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="llm-relay"')
      expect(response.headers.get('content-type')).toStartWith('application/problem+json')
      expect(relay.countJobs()).toBe(before)
    }
    expect((await fetch(`${relay.url}/jobs/anything`)).status).toBe(401)
    expect((await fetch(`${relay.url}/conversations/anything`)).status).toBe(401)
  })

  test('a bad body without a key learns nothing about validation: 401, not 422', async () => {
    const response = await relay.post({ nonsense: true })
    expect(response.status).toBe(401)
  })

  test('Authorization: Bearer and X-API-Key both work', async () => {
    expect((await relay.post({ message: 'a', callback_url: `${relay.sink.url}/h` }, as(ALICE))).status).toBe(
      202,
    )
    const viaHeader = await relay.post(
      { message: 'b', callback_url: `${relay.sink.url}/h` },
      { 'x-api-key': BOB },
    )
    expect(viaHeader.status).toBe(202)
  })

  test('health, readiness and the docs stay open', async () => {
    expect((await fetch(`${relay.url}/health`)).status).toBe(200)
    expect((await fetch(`${relay.url}/ready`)).status).toBe(200)
    expect((await fetch(`${relay.url}/swagger`)).status).toBe(200)
    expect((await fetch(`${relay.url}/swagger/json`)).status).toBe(200)
  })

  test('jobs and conversations belong to the key that made them', async () => {
    const job = await send(ALICE, { message: 'alice only', conversation_id: 'shared-name' })
    await relay.sink.waitForJob(job.id)
    const read = (key: string, path: string, method = 'GET') =>
      fetch(`${relay.url}${path}`, { method, headers: as(key) })
    expect((await read(ALICE, `/jobs/${job.id}`)).status).toBe(200)
    expect((await read(BOB, `/jobs/${job.id}`)).status).toBe(404)
    expect((await read(BOB, `/jobs/${job.id}/redeliver`, 'POST')).status).toBe(404)
    expect((await read(ALICE, '/conversations/shared-name')).status).toBe(200)
    expect((await read(BOB, '/conversations/shared-name')).status).toBe(404)
    expect((await read(BOB, '/conversations/shared-name', 'DELETE')).status).toBe(404)

    // The same conversation id under another key is another conversation.
    const bobs = await send(BOB, { message: 'bob here', conversation_id: 'shared-name' })
    await relay.sink.waitForJob(bobs.id)
    const call = relay.llm.calls.find((c) => c.body.messages.at(-1)?.content === 'bob here')
    expect(call?.body.messages.map((m) => m.content)).not.toContain('alice only')
  })

  test('the default conversation of one callback URL is kept apart per key', async () => {
    const url = `${relay.sink.url}/same-endpoint`
    const a = await send(ALICE, { message: 'alice secret plan', callback_url: url })
    await relay.sink.waitForJob(a.id)
    const b = await send(BOB, { message: 'bob asks', callback_url: url })
    await relay.sink.waitForJob(b.id)
    const call = relay.llm.calls.find((c) => c.body.messages.at(-1)?.content === 'bob asks')
    expect(call?.body.messages.map((m) => m.content)).toEqual(['You are a helpful assistant.', 'bob asks'])
  })
})

describe('secrets stay secret', () => {
  test('no log line, response or callback carries a key, the signing secret, the data key or a callback header', async () => {
    const callback_headers = { Authorization: `Bearer ${RECEIVER_TOKEN}` }
    const job = await send(ALICE, { message: 'log me', callback_headers })
    const [arrived] = await relay.sink.waitForJob(job.id)
    expect(arrived?.headers.get('authorization')).toBe(`Bearer ${RECEIVER_TOKEN}`)
    await relay.post({ message: 'x', callback_url: 'nope', callback_headers }, as(ALICE))
    await relay.post({ message: 'x', callback_url: `${relay.sink.url}/h` }, as(`${ALICE}-wrong`))
    const replay = await relay.post(
      { message: 'x', callback_url: `${relay.sink.url}/h`, callback_headers },
      { ...as(ALICE), 'idempotency-key': 'scan' },
    )
    const responses = await Promise.all([
      fetch(`${relay.url}/jobs/${job.id}`, { headers: as(ALICE) }).then((r) => r.text()),
      fetch(`${relay.url}/swagger/json`).then((r) => r.text()),
      replay.text(),
    ])
    expect(JSON.parse(responses[0] as string).callback_headers).toEqual(['authorization'])
    const logs = relay.logs.join('\n')
    expect(logs).toContain('"request"')
    const callbacks = relay.sink.received.map((r) => `${r.raw}\n${JSON.stringify([...r.headers])}`).join('\n')
    const callbackBodies = relay.sink.received.map((r) => r.raw).join('\n')
    const secretBody = SECRET.slice('whsec_'.length)
    for (const secret of [ALICE, BOB, TEST_LLM_KEY, SECRET, secretBody, DATA_KEY, RECEIVER_TOKEN]) {
      expect(logs).not.toContain(secret)
      expect(secret === RECEIVER_TOKEN ? callbackBodies : callbacks).not.toContain(secret)
      for (const body of responses) expect(body).not.toContain(secret)
    }
    // At rest too: the database file holds the header sealed, not in the clear.
    const files = ['relay.db', 'relay.db-wal'].map((name) => Bun.file(`${relay.dir}/${name}`))
    const stored = await Promise.all(files.map(async (f) => ((await f.exists()) ? f.text() : '')))
    expect(stored.join('').length).toBeGreaterThan(0)
    expect(stored.join('')).not.toContain(RECEIVER_TOKEN)
  })

  test('an LLM API that echoes the key in its error: scrubbed from the logs, the job and the job.failed callback', async () => {
    const unknownKey = 'sk-or-v1-0a1b2c3d4e5f60718293a4b5c6d7e8f9'
    relay.llm.next(() =>
      apiError(
        401,
        `Invalid key: Bearer ${TEST_LLM_KEY} (also seen: ${ALICE}, ${SECRET}, ${encodeURIComponent(SECRET)}, ${unknownKey})`,
      ),
    )
    const job = await send(ALICE, { message: 'echo my key', conversation_id: 'echoed-key' })
    const [callback] = await relay.sink.waitForJob(job.id)
    expect(callback?.body.type).toBe('job.failed')
    expect(callback?.body.data.error?.code).toBe('llm_auth')
    expect(callback?.body.data.error?.message).toContain(
      'Invalid key: Bearer [redacted] (also seen: [redacted]',
    )
    const view = await (await fetch(`${relay.url}/jobs/${job.id}`, { headers: as(ALICE) })).text()
    expect(view).toContain('Invalid key: Bearer [redacted]')
    const logs = relay.logs.join('\n')
    expect(logs).toContain('Invalid key: Bearer [redacted]')
    for (const secret of [TEST_LLM_KEY, ALICE, SECRET, SECRET.slice('whsec_'.length), unknownKey]) {
      expect(logs).not.toContain(secret)
      expect(view).not.toContain(secret)
      expect(callback?.raw).not.toContain(secret)
    }
  })
})

test('over RATE_LIMIT_MAX a client gets 429 with Retry-After and RateLimit headers; other clients go on', async () => {
  const limited = await startTestRelay({
    RATE_LIMIT_MAX: '3',
    RATE_LIMIT_WINDOW: '1m',
    API_KEYS: `alice:${ALICE},bob:${BOB}`,
  })
  try {
    const statuses: number[] = []
    let last: Response | undefined
    for (let i = 0; i < 4; i++) {
      last = await fetch(`${limited.url}/jobs/none`, { headers: as(ALICE) })
      statuses.push(last.status)
    }
    expect(statuses).toEqual([404, 404, 404, 429])
    expect(last?.headers.get('content-type')).toStartWith('application/problem+json')
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(last?.headers.get('ratelimit-limit')).toBe('3')
    expect(last?.headers.get('ratelimit-remaining')).toBe('0')
    const webhook = await limited.post({ message: 'hi', callback_url: `${limited.sink.url}/h` }, as(ALICE))
    expect(webhook.status).toBe(429)
    expect(limited.countJobs()).toBe(0)
    // The request line is written after the response has gone.
    await eventually(
      async () =>
        limited.logs
          .map((line) => JSON.parse(line) as { msg: string; status: number })
          .filter((l) => l.msg === 'request' && l.status === 429).length === 2,
      'two request lines with status 429',
    )
    expect((await fetch(`${limited.url}/jobs/none`, { headers: as(BOB) })).status).toBe(404)
    expect((await fetch(`${limited.url}/health`)).status).toBe(200)
  } finally {
    await limited.close()
  }
})

test('MAX_BODY_BYTES is enforced before parsing, also for a body streamed without a length', async () => {
  const small = await startTestRelay({ MAX_BODY_BYTES: '2KB' })
  try {
    const big = JSON.stringify({ message: 'x'.repeat(3000), callback_url: `${small.sink.url}/h` })
    expect((await small.post(big)).status).toBe(413)
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(500)))
        controller.enqueue(new TextEncoder().encode('{}'))
        controller.close()
      },
    })
    const chunked = await fetch(`${small.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
    })
    expect(chunked.status).toBe(413)
    expect(small.countJobs()).toBe(0)
  } finally {
    await small.close()
  }
})

test('DOCS_ENABLED=false turns the docs routes off', async () => {
  const closed = await startTestRelay({ DOCS_ENABLED: 'false' })
  try {
    expect((await fetch(`${closed.url}/swagger`)).status).toBe(404)
    expect((await fetch(`${closed.url}/swagger/json`)).status).toBe(404)
  } finally {
    await closed.close()
  }
})

test('every response carries nosniff and no server banner', async () => {
  for (const path of ['/health', '/nope', '/jobs/x']) {
    const response = await fetch(`${relay.url}${path}`)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('x-powered-by')).toBeNull()
    expect(response.headers.get('server')).toBeNull()
  }
})

test('the logger censors secret fields at every level, whatever logs them', async () => {
  const { Writable } = await import('node:stream')
  const { createLogger } = await import('../src/log.ts')
  const lines: string[] = []
  const logger = createLogger(
    'trace',
    new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk))
        done()
      },
    }),
  )
  logger.trace({ headers: { authorization: `Bearer ${ALICE}`, 'x-api-key': BOB } }, 'incoming')
  logger.error({ req: { headers: { authorization: `Bearer ${ALICE}` } }, apiKey: TEST_LLM_KEY }, 'failed')
  logger.info({ callbackSecret: SECRET, config: { LLM_API_KEY: TEST_LLM_KEY } }, 'config')
  logger
    .child({ api_key: BOB })
    .warn({ attempts: [{ Authorization: ALICE }] }, 'nested in a child and an array')
  const mine = { headers: { 'x-api-key': BOB }, kept: 'visible' }
  logger.info(mine, 'the caller keeps its object')
  expect(mine.headers['x-api-key']).toBe(BOB)
  logger.error({ err: new Error('boom') }, 'an error keeps its stack')
  const text = lines.join('')
  expect(lines).toHaveLength(6)
  expect(text).toContain('"kept":"visible"')
  expect(JSON.parse(lines[5] as string).err.stack).toContain('boom')
  expect(text).toContain('[redacted]')
  for (const secret of [ALICE, BOB, TEST_LLM_KEY, SECRET]) expect(text).not.toContain(secret)
})

test('past RATE_LIMIT_MAX failed key checks an address gets 429 for wrong keys, and a right key still passes', async () => {
  const guarded = await startTestRelay({ RATE_LIMIT_MAX: '3', API_KEYS: `alice:${ALICE}` })
  try {
    const wrong = as('wrong-key-0123456789abcdef')
    const statuses = []
    for (let i = 0; i < 4; i++)
      statuses.push((await fetch(`${guarded.url}/jobs/x`, { headers: wrong })).status)
    expect(statuses).toEqual([401, 401, 401, 429])
    const blocked = await fetch(`${guarded.url}/jobs/x`, { headers: wrong })
    expect(blocked.status).toBe(429)
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(blocked.headers.get('content-type')).toStartWith('application/problem+json')
    expect((await fetch(`${guarded.url}/jobs/x`)).status).toBe(429)
    // The client whose address an attacker shares is not shut out with it.
    expect((await fetch(`${guarded.url}/jobs/x`, { headers: as(ALICE) })).status).toBe(404)
    expect((await fetch(`${guarded.url}/health`)).status).toBe(200)
  } finally {
    await guarded.close()
  }
})

test('with TRUST_PROXY the status_url and the client address come from the proxy headers', async () => {
  const proxied = await startTestRelay({ TRUST_PROXY: 'true', RATE_LIMIT_MAX: '2' })
  try {
    const headers = {
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'relay.example.com',
      'x-forwarded-for': '203.0.113.7',
    }
    const response = await proxied.post({ message: 'hi', callback_url: `${proxied.sink.url}/h` }, headers)
    const { id, status_url } = (await response.json()) as { id: string; status_url: string }
    expect(status_url).toBe(`https://relay.example.com/jobs/${id}`)
    expect((await fetch(`${proxied.url}/jobs/${id}`, { headers })).status).toBe(200)
    expect((await fetch(`${proxied.url}/jobs/${id}`, { headers })).status).toBe(429)
    // Another client behind the same proxy has its own count.
    const other = { ...headers, 'x-forwarded-for': '198.51.100.9' }
    expect((await fetch(`${proxied.url}/jobs/${id}`, { headers: other })).status).toBe(200)
  } finally {
    await proxied.close()
  }
})

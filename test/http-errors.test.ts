import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { MAX_HEADER_BYTES } from '../src/http/header-limit.ts'
import { rawRequest } from './support/raw-http.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay()
})
afterAll(() => relay.close())

interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  errors?: { field: string; message: string }[]
}

const expectProblem = async (response: Response, status: number): Promise<ProblemBody> => {
  expect(response.status).toBe(status)
  expect(response.headers.get('content-type')).toStartWith('application/problem+json')
  const problem = (await response.json()) as ProblemBody
  expect(problem.status).toBe(status)
  return problem
}

describe('every validation message reads in one voice, wherever it is found', () => {
  const ok = () => ({ message: 'hello', callback_url: `${relay.sink.url}/hook` })
  const cases: [string, () => Promise<Response>, string][] = [
    ['an empty model', () => relay.post({ ...ok(), model: '' }), '/model'],
    ['a model over 200 characters', () => relay.post({ ...ok(), model: 'm'.repeat(201) }), '/model'],
    [
      'a system_prompt over the limit',
      () => relay.post({ ...ok(), system_prompt: 's'.repeat(32_001) }),
      '/system_prompt',
    ],
    ['no message', () => relay.post({ callback_url: ok().callback_url }), '/message'],
    ['a blank message', () => relay.post({ ...ok(), message: '   ' }), '/message'],
    [
      'a conversation_id with spaces',
      () => relay.post({ ...ok(), conversation_id: 'a b' }),
      '/conversation_id',
    ],
    ['a body that is an array', () => relay.post([1, 2]), '/'],
    ['a conversation id with a space in the path', () => fetch(`${relay.url}/conversations/bad%20id`), 'id'],
    [
      'a conversation id of 129 characters in the path',
      () => fetch(`${relay.url}/conversations/${'c'.repeat(129)}`),
      'id',
    ],
    ['a job id of 65 characters', () => fetch(`${relay.url}/jobs/${'j'.repeat(65)}`), 'id'],
    [
      'a forgotten conversation id with a colon-less slash',
      () => fetch(`${relay.url}/conversations/a%2Fb`, { method: 'DELETE' }),
      'id',
    ],
    ['an empty Idempotency-Key', () => relay.post(ok(), { 'idempotency-key': '' }), 'Idempotency-Key'],
  ]
  // TypeBox's and Elysia's own words, which are written for whoever wrote the schema.
  const RAW = [
    /Expected/,
    /pattern/i,
    /\^\[/,
    /\\S/,
    /failed validation.*\{/,
    /Property '/,
    /greater or equal/,
  ]

  for (const [name, send, field] of cases) {
    test(`${name}: a 422 naming ${field} in plain words`, async () => {
      const problem = await expectProblem(await send(), 422)
      expect(problem.errors?.map((e) => e.field)).toContain(field)
      for (const text of [problem.detail, ...(problem.errors ?? []).map((e) => e.message)])
        for (const raw of RAW) expect({ text, raw: raw.test(text) }).toEqual({ text, raw: false })
    })
  }

  test('an empty model says what a model must be', async () => {
    const problem = await expectProblem(await relay.post({ ...ok(), model: '' }), 422)
    expect(problem.errors).toEqual([{ field: '/model', message: 'must be 1 to 200 characters' }])
  })

  test('the path parameter problem names its part of the request', async () => {
    const problem = await expectProblem(await fetch(`${relay.url}/conversations/bad%20id`), 422)
    expect(problem.detail).toBe('The path parameters failed validation.')
    expect(problem.errors).toEqual([
      { field: 'id', message: 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -' },
    ])
  })
})

test('the request line carries the status that was answered', async () => {
  const tagged = (id: string) => ({ 'x-request-id': `status-line-${id}` })
  await fetch(`${relay.url}/nope`, { headers: tagged('404') })
  await relay.post({ message: '' }, tagged('422'))
  await fetch(`${relay.url}/webhook`, { headers: tagged('405') })
  // The line is written after the response has gone: wait for it.
  const lines = await eventually(async () => {
    const mine = relay.logs
      .map((line) => JSON.parse(line) as { msg: string; status: number; request_id?: string })
      .filter((l) => l.msg === 'request' && l.request_id?.startsWith('status-line-'))
    return mine.length >= 3 && mine
  }, 'three request lines')
  expect(lines.map((l) => [l.request_id, l.status])).toEqual([
    ['status-line-404', 404],
    ['status-line-422', 422],
    ['status-line-405', 405],
  ])
})

describe('routes and methods', () => {
  test('a known path with another method is 405 with Allow', async () => {
    const webhook = await fetch(`${relay.url}/webhook`)
    const problem = await expectProblem(webhook, 405)
    expect(webhook.headers.get('allow')).toBe('POST')
    expect(problem.detail).toContain('POST')
    const job = await fetch(`${relay.url}/jobs/some-id`, { method: 'DELETE' })
    await expectProblem(job, 405)
    expect(job.headers.get('allow')).toBe('GET, HEAD')
    const conversation = await fetch(`${relay.url}/conversations/c-1`, { method: 'PUT' })
    await expectProblem(conversation, 405)
    expect(conversation.headers.get('allow')?.split(', ').sort()).toEqual(['DELETE', 'GET', 'HEAD'])
    const redeliver = await fetch(`${relay.url}/jobs/x/redeliver`)
    await expectProblem(redeliver, 405)
    expect(redeliver.headers.get('allow')).toBe('POST')
  })

  test('an unknown path stays a 404', async () => {
    await expectProblem(await fetch(`${relay.url}/webhooks`), 404)
    await expectProblem(await fetch(`${relay.url}/jobs/x/y/z`), 404)
    await expectProblem(await fetch(`${relay.url}/swagger/assets/nope.js`), 404)
  })

  test('GET / points to the docs, the console and the health routes', async () => {
    const response = await fetch(`${relay.url}/`)
    expect(response.status).toBe(200)
    const index = (await response.json()) as Record<string, string>
    expect(index).toMatchObject({
      docs: '/swagger',
      openapi: '/swagger/json',
      console: '/console',
      health: '/health',
    })
    for (const path of [index.docs, index.openapi, index.console, index.health])
      expect((await fetch(`${relay.url}${path}`)).status).toBe(200)
    await expectProblem(await fetch(`${relay.url}/`, { method: 'POST' }), 405)
  })

  test('GET / lists no docs and no console when they are off', async () => {
    const closed = await startTestRelay({ DOCS_ENABLED: 'false', CONSOLE_ENABLED: 'false' })
    try {
      const index = (await (await fetch(`${closed.url}/`)).json()) as Record<string, string>
      expect(index.docs).toBeUndefined()
      expect(index.console).toBeUndefined()
      expect(index.health).toBe('/health')
    } finally {
      await closed.close()
    }
  })
})

describe('what arrives before the body', () => {
  const get = (headers: string) =>
    rawRequest(relay.url, `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`)

  test('headers over the relay’s limit get a 431 problem', async () => {
    const big = await get(`X-Big: ${'a'.repeat(MAX_HEADER_BYTES)}\r\n`)
    expect(big.status).toBe(431)
    expect(big.headers.get('content-type')).toStartWith('application/problem+json')
    expect(JSON.parse(big.body)).toMatchObject({ status: 431, title: 'Request Header Fields Too Large' })
    const many = await get(Array.from({ length: 120 }, (_, i) => `X-H${i}: v\r\n`).join(''))
    expect(many.status).toBe(431)
    expect(many.headers.get('content-type')).toStartWith('application/problem+json')
    expect((await get('X-Small: a\r\n')).status).toBe(200)
  })

  // Documented in docs/security.md: these never reach the relay's code, Bun answers them itself.
  test('past Bun’s own limits, and for broken framing, Bun answers with an empty body', async () => {
    const huge = await get(`X-Huge: ${'a'.repeat(17 * 1024)}\r\n`)
    expect(huge.status).toBe(431)
    expect(huge.body).toBe('')
    const broken = await rawRequest(
      relay.url,
      'POST /webhook HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n',
    )
    expect(broken.status).toBe(400)
    expect(broken.body).toBe('')
    expect((await fetch(`${relay.url}/health`)).status).toBe(200)
  })

  test('a nesting bomb is refused before it is parsed, and /health answers meanwhile', async () => {
    const before = relay.countJobs()
    const bomb = '['.repeat(32_000)
    const bodies = [
      `{"message":"hi","callback_url":"${relay.sink.url}/h","extra":${bomb}}`,
      `{"message":"hi","callback_url":"${relay.sink.url}/h","metadata":{"deep":${bomb}}}`,
      bomb,
    ]
    const answers = Promise.all(bodies.map((b) => relay.post(b)))
    expect((await fetch(`${relay.url}/health`)).status).toBe(200)
    for (const response of await answers) {
      const problem = await expectProblem(response, 400)
      expect(problem.detail).toContain('32')
    }
    // Brackets inside a string are text, not nesting.
    const inString = await relay.post({ message: bomb.slice(0, 20_000), callback_url: `${relay.sink.url}/h` })
    expect(inString.status).toBe(202)
    expect(relay.countJobs()).toBe(before + 1)
    await relay.waitForStatus(((await inString.json()) as { id: string }).id, 'delivered')
  })

  test('nesting up to the bound is accepted', async () => {
    let deep: unknown = 'leaf'
    for (let i = 0; i < 30; i++) deep = { d: deep }
    const response = await relay.post({
      message: 'deep',
      callback_url: `${relay.sink.url}/h`,
      metadata: deep,
    })
    expect(response.status).toBe(202)
    const { id } = (await response.json()) as { id: string }
    expect((await relay.waitForStatus(id, 'delivered')).metadata).toEqual(deep as Record<string, unknown>)
  })
})

test('while draining, the expected 503s are on the request line with their status, and no error is logged', async () => {
  const draining = await startTestRelay({ LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT: '10s' })
  const held = draining.llm.hold()
  const { id } = await draining.send('finish me')
  await held.received
  const stopped = draining.close()
  const refused = await draining.post({ message: 'too late', callback_url: `${draining.sink.url}/h` })
  await expectProblem(refused, 503)
  expect(refused.headers.get('retry-after')).toBe('5')
  expect((await fetch(`${draining.url}/jobs/${id}`)).status).toBe(503)
  held.release()
  await stopped
  const lines = await eventually(async () => {
    const all = draining.logs.map((line) => JSON.parse(line) as { level: string; status?: number })
    return all.filter((l) => l.status === 503).length >= 2 && all
  }, 'the request lines of both 503s')
  expect(lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([])
})

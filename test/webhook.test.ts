import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay()
})
afterAll(() => relay.close())

describe('POST /webhook', () => {
  test('answers 202 after the job is committed, then the answer reaches the callback', async () => {
    const response = await relay.post({
      message: 'What is 2+2?',
      callback_url: `${relay.sink.url}/hook`,
      conversation_id: 'happy-1',
      metadata: { ticket: 'T-1' },
    })
    expect(response.status).toBe(202)
    const accepted = (await response.json()) as Record<string, string>
    expect(accepted).toEqual({
      id: expect.any(String),
      conversation_id: 'happy-1',
      // A worker slot was free and the conversation had nothing open: taken at accept.
      status: 'processing',
      status_url: `${relay.url}/jobs/${accepted.id}`,
    })
    expect(response.headers.get('location')).toBe(`/jobs/${accepted.id}`)

    const [callback] = await relay.sink.waitForJob(accepted.id as string)
    expect(callback?.path).toBe('/hook')
    expect(callback?.headers.get('webhook-id')).toBe(accepted.id as string)
    expect(callback?.headers.get('user-agent')).toMatch(/^llm-relay\/\d+\.\d+\.\d+/)
    expect(Number(callback?.headers.get('webhook-timestamp'))).toBeGreaterThan(1_600_000_000)
    expect(callback?.body.type).toBe('job.completed')
    expect(callback?.body.data).toMatchObject({
      id: accepted.id,
      conversation_id: 'happy-1',
      sequence: 1,
      message: 'What is 2+2?',
      response: 'echo: What is 2+2?',
      error: null,
      model: 'fake/model',
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      metadata: { ticket: 'T-1' },
    })

    const job = await relay.waitForStatus(accepted.id as string, 'delivered')
    expect(job.response).toBe('echo: What is 2+2?')
    expect(job.attempts).toEqual({ llm: 1, delivery: 1 })
    expect(job.deliveries).toEqual([
      { attempt: 1, at: expect.any(String), status_code: 200, error: null, duration_ms: expect.any(Number) },
    ])
    expect(job.completed_at).not.toBeNull()
  })

  test('without a conversation_id the conversation is keyed by the callback URL', async () => {
    const first = await relay.send('one', { callback_url: `${relay.sink.url}/endpoint-a` })
    const second = await relay.send('two', { callback_url: `${relay.sink.url}/endpoint-a` })
    const other = await relay.send('three', { callback_url: `${relay.sink.url}/endpoint-b` })
    expect(first.conversation_id).toBe(second.conversation_id)
    expect(other.conversation_id).not.toBe(first.conversation_id)
    expect(first.conversation_id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/)
    const [callback] = await relay.sink.waitForJob(second.id)
    expect(callback?.body.data.conversation_id).toBe(first.conversation_id)
    expect(callback?.body.data.sequence).toBe(2)
  })

  test('the same Idempotency-Key returns the same job and enqueues nothing', async () => {
    const body = { message: 'once', callback_url: `${relay.sink.url}/idem`, conversation_id: 'idem' }
    const first = await relay.post(body, { 'idempotency-key': 'key-1' })
    expect(first.status).toBe(202)
    const { id } = (await first.json()) as { id: string }
    const before = relay.countJobs()
    const again = await relay.post(body, { 'idempotency-key': 'key-1' })
    expect(again.status).toBe(200)
    expect(((await again.json()) as { id: string }).id).toBe(id)
    expect(relay.countJobs()).toBe(before)

    const changed = await relay.post({ ...body, message: 'different' }, { 'idempotency-key': 'key-1' })
    expect(changed.status).toBe(422)
    expect(changed.headers.get('content-type')).toStartWith('application/problem+json')
    expect(relay.countJobs()).toBe(before)
    await relay.waitForStatus(id, 'delivered')
    expect(relay.llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'once')).toHaveLength(1)
  })

  test('an Idempotency-Key that is empty or longer than 255 characters is a 422 naming it, and enqueues nothing', async () => {
    const before = relay.countJobs()
    for (const key of ['', 'k'.repeat(256)]) {
      const response = await relay.post(
        { message: 'hello', callback_url: `${relay.sink.url}/hook` },
        { 'idempotency-key': key },
      )
      expect(response.status).toBe(422)
      const problem = (await response.json()) as { errors: { field: string }[] }
      expect(problem.errors.map((e) => e.field)).toEqual(['Idempotency-Key'])
    }
    expect(
      (
        await relay.post(
          { message: 'hi', callback_url: `${relay.sink.url}/hook` },
          { 'idempotency-key': 'k'.repeat(255) },
        )
      ).status,
    ).toBe(202)
    expect(relay.countJobs()).toBe(before + 1)
  })
})

describe('bad input gets a 4xx problem and creates nothing', () => {
  const ok = () => ({ message: 'hello', callback_url: `${relay.sink.url}/hook` })
  const long = (n: number) => 'x'.repeat(n)
  const cases: [string, () => { body: unknown; type?: string }, number, string?][] = [
    ['unreadable JSON', () => ({ body: '{"message": ' }), 400],
    ['a JSON array', () => ({ body: '[1,2]' }), 422],
    ['a JSON string', () => ({ body: '"hi"' }), 422],
    ['plain text', () => ({ body: 'hello', type: 'text/plain' }), 415],
    ['form data', () => ({ body: 'message=hi', type: 'application/x-www-form-urlencoded' }), 415],
    ['a body over 64 KB', () => ({ body: JSON.stringify({ ...ok(), message: long(70_000) }) }), 413],
    ['no message', () => ({ body: { callback_url: ok().callback_url } }), 422, '/message'],
    ['a blank message', () => ({ body: { ...ok(), message: ' \n\t ' } }), 422, '/message'],
    ['an empty message', () => ({ body: { ...ok(), message: '' } }), 422, '/message'],
    [
      'a message over MAX_MESSAGE_CHARS',
      () => ({ body: { ...ok(), message: long(32_001) } }),
      422,
      '/message',
    ],
    ['a number as message', () => ({ body: { ...ok(), message: 42 } }), 422, '/message'],
    ['no callback_url', () => ({ body: { message: 'hi' } }), 422, '/callback_url'],
    ['a relative callback_url', () => ({ body: { ...ok(), callback_url: '/hook' } }), 422, '/callback_url'],
    [
      'an ftp callback_url',
      () => ({ body: { ...ok(), callback_url: 'ftp://example.com/x' } }),
      422,
      '/callback_url',
    ],
    [
      'a javascript: URL',
      () => ({ body: { ...ok(), callback_url: 'javascript:alert(1)' } }),
      422,
      '/callback_url',
    ],
    [
      'credentials in callback_url',
      () => ({ body: { ...ok(), callback_url: 'https://user:pw@example.com/x' } }),
      422,
      '/callback_url',
    ],
    [
      'a callback_url over 2048 characters',
      () => ({ body: { ...ok(), callback_url: `https://example.com/${long(2048)}` } }),
      422,
      '/callback_url',
    ],
    [
      'a conversation_id with spaces',
      () => ({ body: { ...ok(), conversation_id: 'a b' } }),
      422,
      '/conversation_id',
    ],
    ['an empty conversation_id', () => ({ body: { ...ok(), conversation_id: '' } }), 422, '/conversation_id'],
    [
      'a conversation_id of 129 chars',
      () => ({ body: { ...ok(), conversation_id: long(129) } }),
      422,
      '/conversation_id',
    ],
    ['metadata that is an array', () => ({ body: { ...ok(), metadata: [1] } }), 422, '/metadata'],
    ['metadata over 4 KB', () => ({ body: { ...ok(), metadata: { blob: long(4100) } } }), 422, '/metadata'],
    ['an empty model', () => ({ body: { ...ok(), model: '' } }), 422, '/model'],
    // Found by the fuzz test: Elysia's own error message would throw on this value.
    [
      'an object whose toString is not a function',
      () => ({ body: { ...ok(), callback_url: { toString: false } } }),
      422,
      '/callback_url',
    ],
    ['an array as model', () => ({ body: { ...ok(), model: [{ valueOf: 1 }] } }), 422, '/model'],
  ]

  for (const [name, make, status, field] of cases) {
    test(`${name} → ${status}`, async () => {
      const before = relay.countJobs()
      const { body, type } = make()
      const response = await fetch(`${relay.url}/webhook`, {
        method: 'POST',
        headers: { 'content-type': type ?? 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      })
      expect(response.status).toBe(status)
      expect(response.headers.get('content-type')).toStartWith('application/problem+json')
      const problem = (await response.json()) as {
        status: number
        title: string
        errors?: { field: string }[]
      }
      expect(problem.status).toBe(status)
      expect(problem.title).toBeString()
      if (field) expect(problem.errors?.map((e) => e.field)).toContain(field)
      expect(relay.countJobs()).toBe(before)
    })
  }

  test('every failing field is named at once', async () => {
    const response = await relay.post({ message: '', callback_url: 'nope', conversation_id: 'bad id' })
    expect(response.status).toBe(422)
    const problem = (await response.json()) as { errors: { field: string; message: string }[] }
    expect(problem.errors.map((e) => e.field).sort()).toEqual([
      '/callback_url',
      '/conversation_id',
      '/message',
    ])
  })

  test('unknown routes and jobs are 404 problems', async () => {
    const route = await fetch(`${relay.url}/nope`)
    expect(route.status).toBe(404)
    expect(route.headers.get('content-type')).toStartWith('application/problem+json')
    const job = await fetch(`${relay.url}/jobs/does-not-exist`)
    expect(job.status).toBe(404)
    expect(((await job.json()) as { detail: string }).detail).toContain('does-not-exist')
  })
})

test('pathOf reads the path of a request URL as new URL() does', async () => {
  const { pathOf } = await import('../src/http/request-info.ts')
  for (const url of [
    'http://127.0.0.1:8080/webhook',
    'http://h/jobs/x?with=query',
    'http://h/a/b?x=1#f',
    'http://h/#only-fragment',
    'http://h',
    'http://h/',
    'https://relay.example.com:8443//double//slashes',
    'http://[::1]:3000/swagger/json',
    'http://h/%E2%9C%93/x',
  ])
    expect(pathOf(url)).toBe(new URL(url).pathname)
})

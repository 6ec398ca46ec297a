import { afterAll, beforeAll, expect, test } from 'bun:test'
import fc from 'fast-check'
import { startTestRelay, type TestRelay } from './support/relay.ts'

// Only the sink's own address may be called back, and no name is ever looked up: whatever the
// fuzzer invents, no traffic leaves 127.0.0.1.
let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay(
    { CALLBACK_ALLOWED_HOSTS: '127.0.0.1', MAX_BODY_BYTES: '8KB', MAX_MESSAGE_CHARS: '2000' },
    {
      resolve: async (hostname) => {
        throw new Error(`no lookups in the fuzz test (${hostname})`)
      },
    },
  )
})
afterAll(() => relay.close())

const RUNS = 150

/** Sends one request; asserts the answer is a 202, a 200 replay, or a 4xx problem; and that a refusal left no job. */
async function holds(init: { body: RequestInit['body']; headers: Record<string, string> }): Promise<void> {
  const before = relay.countJobs()
  const response = await fetch(`${relay.url}/webhook`, { method: 'POST', ...init })
  const text = await response.text()
  if (response.status === 202 || response.status === 200) {
    expect(JSON.parse(text)).toMatchObject({ id: expect.any(String), status: expect.any(String) })
    return
  }
  expect(response.status).toBeGreaterThanOrEqual(400)
  expect(response.status).toBeLessThan(500)
  expect(response.headers.get('content-type')).toStartWith('application/problem+json')
  expect((JSON.parse(text) as { status: number }).status).toBe(response.status)
  expect(relay.countJobs()).toBe(before)
}

const sinkUrl = () => fc.webPath().map((path) => `${relay.sink.url}${path}`)
const anyUrl = () =>
  fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string(), sinkUrl())

const bodyShape = () =>
  fc.record(
    {
      message: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 2100 }), fc.anything()),
      callback_url: fc.oneof(sinkUrl(), anyUrl(), fc.anything()),
      conversation_id: fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/), fc.string(), fc.anything()),
      model: fc.oneof(fc.string(), fc.anything()),
      system_prompt: fc.oneof(fc.string(), fc.anything()),
      metadata: fc.oneof(fc.object(), fc.anything()),
    },
    { requiredKeys: [] },
  )

test('any JSON body gets a 202 or a 4xx problem, and a refusal leaves no job', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(bodyShape(), fc.jsonValue()), async (body) => {
      await holds({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    }),
    { numRuns: RUNS },
  )
})

test('any bytes under any content type get a 2xx or a 4xx problem', async () => {
  const contentType = fc.oneof(
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
    ),
    fc.constantFrom(
      'multipart/form-data; boundary=x',
      'application/vnd.api+json',
      'application/octet-stream',
      '',
    ),
  )
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 10_000 }), contentType, async (bytes, type) => {
      await holds({ body: bytes, headers: type === '' ? {} : { 'content-type': type } })
    }),
    { numRuns: RUNS },
  )
})

test('any callback URL and Idempotency-Key get a 2xx or a 4xx problem', async () => {
  const headerValue = fc.stringMatching(/^[\x21-\x7e]{1,300}$/)
  await fc.assert(
    fc.asyncProperty(anyUrl(), fc.option(headerValue, { nil: undefined }), async (url, key) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (key !== undefined) headers['idempotency-key'] = key
      await holds({ body: JSON.stringify({ message: 'fuzz', callback_url: url }), headers })
    }),
    { numRuns: RUNS },
  )
})

test('bodies nested to any depth, anywhere, get a 2xx or a 4xx problem', async () => {
  const open = fc.constantFrom('[', '{"k":')
  await fc.assert(
    fc.asyncProperty(
      fc.array(open, { maxLength: 3000 }),
      fc.constantFrom('message', 'metadata', 'unknown_field', ''),
      async (opens, field) => {
        const closes = opens.map((o) => (o === '[' ? ']' : '}')).reverse()
        const nested = `${opens.join('')}1${closes.join('')}`
        const text =
          field === ''
            ? nested
            : `{"message":"fuzz","callback_url":"${relay.sink.url}/n","${field}":${nested}}`
        await holds({ body: text, headers: { 'content-type': 'application/json' } })
      },
    ),
    { numRuns: 60 },
  )
})

test('after all that the relay still answers', async () => {
  expect((await fetch(`${relay.url}/health`)).status).toBe(200)
  expect((await fetch(`${relay.url}/ready`)).status).toBe(200)
})

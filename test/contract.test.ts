import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
// Elysia registers the string formats (date-time) that Value.Check needs.
import 'elysia'
import {
  CALLBACK_EXAMPLES,
  type CallbackPayload,
  CallbackPayloadSchema,
  JobCompletedEvent,
  JobFailedEvent,
  JobToolCallsEvent,
} from '../src/contract/callback-payload.ts'
import type { JobErrorSchema, UsageSchema } from '../src/contract/fields.ts'
import type { callbackPayload } from '../src/delivery/payload.ts'
import { ProblemSchema } from '../src/http/problem.ts'
import type { JobView } from '../src/http/schemas.ts'
import type { JobError, Usage } from '../src/job.ts'
import { apiError } from './support/fake-llm.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'

// Type-level: `bun run typecheck` fails when a hand-written type and its schema part ways.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const sameTypes: [
  Same<Usage, Static<typeof UsageSchema>>,
  Same<JobError, Static<typeof JobErrorSchema>>,
  Same<ReturnType<typeof callbackPayload>, CallbackPayload>,
  Same<JobView['error'], JobError | null>,
  Same<JobView['usage'], Usage | null>,
] = [true, true, true, true, true]

type Operation = {
  parameters?: { name: string; in: string; required?: boolean }[]
  security?: Record<string, string[]>[]
  responses: Record<string, { headers?: Record<string, unknown> }>
}
type Document = {
  paths: Record<string, Record<string, Operation>>
  webhooks: Record<
    string,
    { post: Operation & { requestBody: { content: Record<string, { example: unknown }> } } }
  >
  components: { headers: Record<string, { required?: boolean }> }
}

const KEY = 'contract-test-key-0123456789abcdef'
const SECRET = `whsec_${Buffer.from('contract-test-signing-secret-32b').toString('base64')}`

async function documentOf(relay: TestRelay): Promise<Document> {
  return (await (await fetch(`${relay.url}/swagger/json`)).json()) as Document
}

const operationsOf = (doc: Document): [string, string, Operation][] =>
  Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => [method, path, op] as [string, string, Operation]),
  )

/** A request for an operation, its path parameters filled in. */
function requestFor(relay: TestRelay, method: string, path: string, headers: Record<string, string> = {}) {
  const url = `${relay.url}${path.replace(/\{[^}]+\}/g, 'contract-x')}`
  // A valid body, so that what answers is the route (or the limit), not the body's validation.
  const bodies: Record<string, unknown> = {
    'post /webhook': { message: 'contract', callback_url: `${relay.sink.url}/hook` },
    'post /jobs/redeliver': { status: 'dead' },
    'post /clients': { name: 'contract' },
    'patch /clients/{id}': { llm_rpm: 1 },
    'post /jobs/{id}/tool_results': { results: [{ tool_call_id: 'call_1', content: 'contract' }] },
  }
  const given = bodies[`${method} ${path}`]
  const body = given === undefined ? undefined : JSON.stringify(given)
  return fetch(url, {
    method: method.toUpperCase(),
    headers: { 'content-type': 'application/json', ...headers },
    ...(body ? { body } : {}),
  })
}

test('the hand-written job types are the schemas’ types', () => {
  expect(sameTypes).toEqual([true, true, true, true, true])
})

test('the examples in the document are valid by their own schemas', () => {
  const check = (schema: TSchema, value: unknown) => [...Value.Errors(schema, value)].map((e) => e.path)
  expect(check(JobCompletedEvent, CALLBACK_EXAMPLES['job.completed'])).toEqual([])
  expect(check(JobFailedEvent, CALLBACK_EXAMPLES['job.failed'])).toEqual([])
  expect(check(JobToolCallsEvent, CALLBACK_EXAMPLES['job.tool_calls'])).toEqual([])
  expect(Value.Check(JobCompletedEvent, CALLBACK_EXAMPLES['job.failed'])).toBe(false)
})

describe('what the relay sends is what the document says', () => {
  let relay: TestRelay
  let doc: Document
  beforeAll(async () => {
    relay = await startTestRelay({ CALLBACK_SECRET: SECRET, LLM_RETRY_SCHEDULE: '10ms' })
    doc = await documentOf(relay)
  })
  afterAll(() => relay.close())

  test('each callback matches its event’s schema and carries the documented headers', async () => {
    const completed = await relay.send('answer me', { conversation_id: 'contract-ok' })
    await relay.sink.waitForJob(completed.id)
    // Only once the first is answered, so the failure is the second job's.
    relay.llm.next(() => apiError(400, 'bad request'))
    const failed = await relay.send('fail me', { conversation_id: 'contract-fail' })
    for (const [id, type, schema] of [
      [completed.id, 'job.completed', JobCompletedEvent],
      [failed.id, 'job.failed', JobFailedEvent],
    ] as const) {
      const [callback] = await relay.sink.waitForJob(id)
      expect(callback?.body.type).toBe(type)
      expect([...Value.Errors(schema, callback?.body)].map((e) => `${e.path}: ${e.message}`)).toEqual([])
      expect(Value.Check(CallbackPayloadSchema, callback?.body)).toBe(true)
      const documented = doc.webhooks[type]?.post.parameters ?? []
      expect(documented.length).toBeGreaterThan(0)
      for (const header of documented.filter((p) => p.in === 'header'))
        expect(callback?.headers.get(header.name), `${type} ${header.name}`).toBeString()
      expect(callback?.headers.get('webhook-id')).toBe(id)
    }
  })

  test('the 202 carries the documented Location', async () => {
    const response = await relay.post({ message: 'where is it', callback_url: `${relay.sink.url}/hook` })
    expect(response.status).toBe(202)
    expect(Object.keys(doc.paths['/webhook']?.post?.responses['202']?.headers ?? {})).toEqual(['Location'])
    const { id } = (await response.json()) as { id: string }
    expect(response.headers.get('location')).toBe(`/jobs/${id}`)
  })

  test('problems are RFC 9457 bodies with an integer status, as documented', async () => {
    const response = await fetch(`${relay.url}/jobs/contract-unknown`)
    expect(response.status).toBe(404)
    const body = await response.json()
    expect(Value.Check(ProblemSchema, body)).toBe(true)
    expect(body).toMatchObject({ status: 404 })
  })
})

describe('with API keys', () => {
  let relay: TestRelay
  let doc: Document
  beforeAll(async () => {
    relay = await startTestRelay({ API_KEYS: KEY })
    doc = await documentOf(relay)
  })
  afterAll(() => relay.close())

  test('a route documented with security answers 401 without a key; one without does not', async () => {
    const seen: string[] = []
    for (const [method, path, op] of operationsOf(doc)) {
      const response = await requestFor(relay, method, path)
      const secured = (op.security ?? []).length > 0
      seen.push(`${method} ${path} ${secured ? 401 : 'open'}`)
      expect({ route: `${method} ${path}`, unauthorized: response.status === 401 }).toEqual({
        route: `${method} ${path}`,
        unauthorized: secured,
      })
      if (secured) expect(response.headers.get('www-authenticate')).toStartWith('Bearer')
    }
    expect(seen).toContain('get /health open')
    expect(seen).toContain('post /webhook 401')
  })
})

describe('with a rate limit of one request a minute', () => {
  let relay: TestRelay
  let doc: Document
  beforeAll(async () => {
    relay = await startTestRelay({ API_KEYS: KEY, RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW: '1m' })
    doc = await documentOf(relay)
  })
  afterAll(() => relay.close())

  test('the routes documented with RateLimit-* on their 429 are limited and send those headers', async () => {
    const auth = { authorization: `Bearer ${KEY}` }
    // The one request of this key's window.
    expect((await fetch(`${relay.url}/jobs/contract-first`, { headers: auth })).status).toBe(404)
    for (const [method, path, op] of operationsOf(doc)) {
      const documented = Object.keys(op.responses['429']?.headers ?? {}).sort()
      const limited = documented.includes('RateLimit-Limit')
      const response = await requestFor(relay, method, path, auth)
      expect({ route: `${method} ${path}`, status: response.status === 429 }).toEqual({
        route: `${method} ${path}`,
        status: limited,
      })
      if (!limited) continue
      for (const header of documented)
        expect(response.headers.get(header), `${method} ${path} ${header}`).toMatch(/^\d+$/)
      for (const [name, spec] of Object.entries(doc.components.headers))
        if (spec.required && documented.includes(name)) expect(response.headers.has(name)).toBe(true)
    }
  })

  test('past the failed-key lockout, /metrics answers the documented 429 with Retry-After', async () => {
    const bad = { authorization: 'Bearer not-the-key-0123456789abcdef' }
    expect((await fetch(`${relay.url}/metrics`, { headers: bad })).status).toBe(401)
    const locked = await fetch(`${relay.url}/metrics`, { headers: bad })
    expect(locked.status).toBe(429)
    expect(Object.keys(doc.paths['/metrics']?.get?.responses['429']?.headers ?? {})).toEqual(['Retry-After'])
    expect(locked.headers.get('retry-after')).toMatch(/^\d+$/)
  })
})

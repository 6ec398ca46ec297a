import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
let doc: Document
beforeAll(async () => {
  relay = await startTestRelay()
  const response = await fetch(`${relay.url}/swagger/json`)
  expect(response.status).toBe(200)
  doc = (await response.json()) as Document
})
afterAll(() => relay.close())

type Media = { schema?: Record<string, unknown>; example?: Record<string, unknown> }
type Response = {
  description?: string
  headers?: Record<string, { $ref?: string }>
  content?: Record<string, Media>
}
type Parameter = { name: string; in: string; required?: boolean; description?: string }
type Operation = {
  summary?: string
  description?: string
  parameters?: Parameter[]
  security?: Record<string, string[]>[]
  responses: Record<string, Response>
  requestBody?: {
    content: Record<string, Media & { schema: { properties: Record<string, { examples?: unknown[] }> } }>
  }
}
type Document = {
  openapi: string
  info: { license?: { name?: string } }
  servers?: { url: string }[]
  paths: Record<string, Record<string, Operation>>
  webhooks?: Record<string, Record<string, Operation>>
  components: {
    schemas: Record<string, Record<string, unknown>>
    headers?: Record<string, unknown>
    securitySchemes?: Record<string, Record<string, unknown>>
  }
}

const operations = (): [string, string, Operation][] =>
  Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => [method, path, op] as [string, string, Operation]),
  )
const PROBES = ['/health', '/ready']
const headerNames = (r: Response | undefined) => Object.keys(r?.headers ?? {}).sort()

test('/swagger/json describes every route with its responses and errors', () => {
  expect(doc.openapi).toStartWith('3.1')
  expect(operations().map(([m, p]) => `${m} ${p}`)).toEqual(
    expect.arrayContaining([
      'get /health',
      'get /ready',
      'get /metrics',
      'post /webhook',
      'get /jobs',
      'post /jobs/redeliver',
      'get /jobs/{id}',
      'post /jobs/{id}/redeliver',
      'get /conversations',
      'post /jobs/{id}/tool_results',
      'get /conversations/{id}',
      'delete /conversations/{id}',
    ]),
  )
  expect(Object.keys(doc.paths).filter((p) => p.startsWith('/swagger'))).toEqual([])
  for (const [method, path, op] of operations()) {
    expect(op.summary, `${method} ${path} has a summary`).toBeString()
    for (const [status, r] of Object.entries(op.responses)) {
      expect(r.description, `${method} ${path} ${status} is described`).toBeString()
      // /ready's 503 is its readiness body; a 431 comes from the HTTP server, without a body.
      if (Number(status) >= 400 && path !== '/ready' && status !== '431')
        expect(Object.keys(r.content ?? {}), `${method} ${path} ${status}`).toEqual([
          'application/problem+json',
        ])
    }
  }
  const webhook = doc.paths['/webhook']?.post
  expect(Object.keys(webhook?.responses ?? {})).toEqual(
    expect.arrayContaining(['200', '202', '400', '401', '413', '415', '422', '429', '503']),
  )
  const body = webhook?.requestBody?.content['application/json']?.schema
  expect(Object.keys(body?.properties ?? {}).sort()).toEqual(
    [
      'callback_headers',
      'callback_url',
      'conversation_id',
      'llm',
      'message',
      'metadata',
      'model',
      'system_prompt',
    ].sort(),
  )
  expect(body?.properties.message?.examples).toBeArray()
  expect(webhook?.parameters).toContainEqual(
    expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false }),
  )
  expect(Object.keys(doc.paths['/jobs/{id}']?.get?.responses ?? {})).toEqual(
    expect.arrayContaining(['200', '404', '422']),
  )
})

describe('the contract a client author reads', () => {
  test('API keys: bearer and X-API-Key schemes, required by every route but the probes', () => {
    expect(doc.components.securitySchemes?.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(doc.components.securitySchemes?.apiKeyHeader).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-API-Key',
    })
    for (const [method, path, op] of operations()) {
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s)).sort()
      expect({ route: `${method} ${path}`, schemes }).toEqual({
        route: `${method} ${path}`,
        schemes: PROBES.includes(path) ? [] : ['apiKeyHeader', 'bearerAuth'],
      })
    }
  })

  test('every protected route documents 401, 429 and 503 with their headers; path parameters a 422', () => {
    for (const [method, path, op] of operations()) {
      const route = `${method} ${path}`
      if (!PROBES.includes(path)) {
        expect(headerNames(op.responses['401']), `${route} 401`).toEqual(['WWW-Authenticate'])
        expect(headerNames(op.responses['503']), `${route} 503`).toEqual(['Retry-After'])
        // /metrics is outside the request rate limit, not outside the failed-key lockout.
        expect(headerNames(op.responses['429']), `${route} 429`).toEqual(
          path === '/metrics'
            ? ['Retry-After']
            : ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After'],
        )
      }
      if (op.responses['503'])
        expect(headerNames(op.responses['503']), `${route} 503`).toContain('Retry-After')
      if (op.parameters?.some((p) => p.in === 'path'))
        expect(op.responses['422'], `${route} documents its 422`).toBeDefined()
    }
    for (const name of ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'])
      expect(doc.components.headers?.[name], name).toMatchObject({ schema: { type: 'integer' } })
  })

  test('each error status has an example of its own, and status is an integer', () => {
    const problem = doc.components.schemas.Problem as { properties: { status: Record<string, unknown> } }
    expect(problem.properties.status.type).toBe('integer')
    expect(problem.properties.status.anyOf).toBeUndefined()
    for (const [method, path, op] of operations()) {
      const seen = new Map<string, string>()
      for (const [status, r] of Object.entries(op.responses)) {
        const media = r.content?.['application/problem+json']
        if (!media) continue
        expect(media.schema, `${method} ${path} ${status}`).toEqual({ $ref: '#/components/schemas/Problem' })
        expect(media.example?.status, `${method} ${path} ${status} example`).toBe(Number(status))
        expect(JSON.stringify(media.example)).not.toContain('additionalProp')
        const detail = String(media.example?.detail)
        expect(seen.get(detail), `${method} ${path} ${status} shares its example with`).toBeUndefined()
        seen.set(detail, status)
      }
    }
  })

  test('the 202 (and the replay 200) name the Location header', () => {
    const responses = doc.paths['/webhook']?.post?.responses ?? {}
    expect(headerNames(responses['202'])).toEqual(['Location'])
    expect(headerNames(responses['200'])).toEqual(['Location'])
    expect(doc.components.headers?.Location).toMatchObject({ required: true })
  })

  test('the callbacks are listed under webhooks: each event, its example, the three headers, how to verify', () => {
    expect(Object.keys(doc.webhooks ?? {}).sort()).toEqual(['job.completed', 'job.failed', 'job.tool_calls'])
    for (const [type, item] of Object.entries(doc.webhooks ?? {})) {
      const op = item.post as Operation
      const media = op.requestBody?.content['application/json']
      expect(media?.example?.type, `${type} example`).toBe(type)
      const ref = (media?.schema as { $ref?: string } | undefined)?.$ref ?? ''
      const schema = doc.components.schemas[ref.replace('#/components/schemas/', '')] as {
        required: string[]
        properties: { type: { const: string } }
      }
      expect(schema.required).toEqual(['type', 'timestamp', 'data'])
      expect(schema.properties.type.const).toBe(type)
      expect(
        op.parameters?.filter((p) => p.in === 'header').map((p) => [p.name, p.required ?? false]),
      ).toEqual([
        ['webhook-id', true],
        ['webhook-timestamp', true],
        ['webhook-signature', false],
      ])
      expect(op.description).toContain('HMAC-SHA256')
      expect(op.description).toContain('webhook-signature')
      expect(op.description).toContain('5 minutes')
      expect(op.description).toContain('drop duplicates by `webhook-id`')
    }
  })

  test('OpenAPI 3.1 throughout: no nullable, servers named, a license', () => {
    expect(JSON.stringify(doc)).not.toContain('"nullable"')
    expect(doc.servers?.length).toBeGreaterThan(0)
    expect(doc.info.license?.name).toBe('MIT')
    // Elysia's t.Integer (a string or an integer) written as what the relay sends.
    expect(JSON.stringify(doc)).not.toContain('"format":"integer"')
  })

  test('a new request for the document gets the same document', async () => {
    const again = await (await fetch(`${relay.url}/swagger/json`)).json()
    expect(again).toEqual(doc)
  })
})

test('/swagger serves the Swagger UI page', async () => {
  const response = await fetch(`${relay.url}/swagger`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toContain('text/html')
  const html = await response.text()
  expect(html).toContain('swagger')
  expect(html).toContain('swagger/json')
})

test('health and readiness answer', async () => {
  expect(await (await fetch(`${relay.url}/health`)).json()).toEqual({ status: 'ok' })
  const ready = await fetch(`${relay.url}/ready`)
  expect(ready.status).toBe(200)
  expect(await ready.json()).toEqual({ status: 'ready', checks: { accepting: 'pass', database: 'pass' } })
  expect(ready.headers.get('x-content-type-options')).toBe('nosniff')
})

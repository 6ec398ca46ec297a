import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay()
})
afterAll(() => relay.close())

type Operation = {
  summary?: string
  parameters?: { name: string; in: string; required?: boolean }[]
  description?: string
  responses: Record<string, { description?: string; content?: Record<string, unknown> }>
  requestBody?: {
    content: Record<string, { schema: { properties: Record<string, { examples?: unknown[] }> } }>
  }
}

test('/swagger/json describes every route with its responses and errors', async () => {
  const response = await fetch(`${relay.url}/swagger/json`)
  expect(response.status).toBe(200)
  const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, Operation>> }
  expect(doc.openapi).toStartWith('3.')
  const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => `${m} ${path}`),
  )
  expect(routes.sort()).toEqual(
    [
      'get /health',
      'get /ready',
      'get /metrics',
      'post /webhook',
      'get /jobs/{id}',
      'post /jobs/{id}/redeliver',
      'get /conversations/{id}',
      'delete /conversations/{id}',
    ].sort(),
  )
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      expect(op.summary, `${method} ${path} has a summary`).toBeString()
      for (const [status, r] of Object.entries(op.responses)) {
        expect(r.description, `${method} ${path} ${status} is described`).toBeString()
        if (Number(status) >= 400 && path !== '/ready')
          expect(Object.keys(r.content ?? {}), `${method} ${path} ${status}`).toEqual([
            'application/problem+json',
          ])
      }
    }
  }
  const webhook = doc.paths['/webhook']?.post
  expect(Object.keys(webhook?.responses ?? {}).sort()).toEqual(['200', '202', '400', '413', '415', '422'])
  const body = webhook?.requestBody?.content['application/json']?.schema
  expect(Object.keys(body?.properties ?? {}).sort()).toEqual(
    ['callback_url', 'conversation_id', 'message', 'metadata', 'model', 'system_prompt'].sort(),
  )
  expect(body?.properties.message?.examples).toBeArray()
  expect(webhook?.parameters).toContainEqual(
    expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false }),
  )
  expect(Object.keys(doc.paths['/jobs/{id}']?.get?.responses ?? {}).sort()).toEqual(['200', '404'])
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

import { afterAll, beforeAll, expect, mock, test } from 'bun:test'
import typescript5 from 'typescript5'
import { startTestRelay, type TestRelay } from './support/relay.ts'

// openapi-typescript builds its output with the TypeScript 5 compiler API, which the project's
// TypeScript 7 (a native compiler) no longer has: hand it the version it asks for.
mock.module('typescript', () => ({ ...typescript5, default: typescript5 }))

let relay: TestRelay
let doc: { paths: Record<string, Record<string, unknown>>; webhooks: Record<string, unknown> }
let types: string
beforeAll(async () => {
  relay = await startTestRelay()
  doc = (await (await fetch(`${relay.url}/swagger/json`)).json()) as typeof doc
  const { default: openapiTS, astToString } = await import('openapi-typescript')
  types = astToString(await openapiTS(doc as never))
})
afterAll(() => relay.close())

/** The body of `export interface <name> { … }` in the generated file. */
function section(name: string): string {
  const start = types.indexOf(`export interface ${name} {`)
  expect(start, `interface ${name}`).toBeGreaterThan(-1)
  const end = types.indexOf('\n}\n', start)
  return types.slice(start, end)
}

test('openapi-typescript generates a type for every route', () => {
  const paths = section('paths')
  expect(Object.keys(doc.paths).length).toBeGreaterThan(0)
  for (const [path, operations] of Object.entries(doc.paths)) {
    expect(paths).toContain(`    "${path}": {`)
    for (const method of Object.keys(operations))
      expect(paths, `${method} ${path}`).toMatch(
        new RegExp(`"${path.replace(/[{}]/g, '\\$&')}": \\{[^]*?\\n {8}${method}: operations\\[`),
      )
  }
})

test('openapi-typescript generates a type for every callback event, not Record<string, never>', () => {
  expect(types).not.toContain('webhooks = Record<string, never>')
  const webhooks = section('webhooks')
  for (const event of ['job.completed', 'job.failed', 'job.tool_calls'])
    expect(webhooks).toContain(`    "${event}": {`)
  const schemas = section('components')
  expect(schemas).toContain('type: "job.completed";')
  expect(schemas).toContain('type: "job.failed";')
  const operations = section('operations')
  for (const operation of ['jobCompleted', 'jobFailed']) {
    const start = operations.indexOf(`    ${operation}: {`)
    expect(start, operation).toBeGreaterThan(-1)
    const headers = operations.slice(start, operations.indexOf('\n    };', start))
    expect(headers).toContain('"webhook-id": string;')
    expect(headers).toContain('"webhook-timestamp": number;')
    expect(headers).toContain('"webhook-signature"?: string;')
  }
})

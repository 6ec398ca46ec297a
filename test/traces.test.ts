import { Database } from 'bun:sqlite'
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { apiError } from './support/fake-llm.ts'
import { OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.ts'
import { databaseUrl, dropSchema, freshSchema, postgres, testIf } from './support/postgres.ts'
import { runCommand } from './support/process.ts'
import { startTestRelay, TEST_LLM_KEY, type TestRelay } from './support/relay.ts'

// Traces arrive at a collector of our own (an OTLP/HTTP receiver on 127.0.0.1). The relay
// sends its last spans as it stops, so each test stops its relays before reading them.

const SERVER = 2
const CLIENT = 3
const ERROR = 2
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'
const traceparentOf = (traceId: string, spanId: string, flags = '01') => `00-${traceId}-${spanId}-${flags}`
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/

let receiver: OtlpReceiver
const relays: TestRelay[] = []
beforeEach(() => {
  receiver = new OtlpReceiver()
})
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()))
  receiver.stop()
})

async function tracedRelay(env: Record<string, string> = {}): Promise<TestRelay> {
  const relay = await startTestRelay({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...env })
  relays.push(relay)
  return relay
}

/** Stops the relays (which sends what they buffered) and answers the spans of `jobId`. */
async function spansAfterStop(jobId: string, ...stopping: TestRelay[]): Promise<ReceivedSpan[]> {
  for (const relay of stopping) await relay.stop()
  return receiver.spansOf(jobId)
}

const named = (spans: ReceivedSpan[], name: string) =>
  spans
    .filter((s) => s.name === name)
    .sort(
      (a, b) =>
        Number(a.attributes['llm_relay.attempt'] ?? 0) - Number(b.attributes['llm_relay.attempt'] ?? 0),
    )

describe('one trace per job', () => {
  test("intake → each LLM attempt → each callback attempt, continuing the client's traceparent, sent on to the LLM and the callback", async () => {
    const relay = await tracedRelay({ OTEL_SERVICE_NAME: 'relay-under-test' })
    relay.llm.next(() => apiError(503, 'overloaded'))
    relay.sink.respond(500)
    const response = await relay.post(
      { message: 'trace me', callback_url: `${relay.sink.url}/hook`, conversation_id: 'conv-traced' },
      { traceparent: traceparentOf(CLIENT_TRACE, CLIENT_SPAN), tracestate: 'vendor=kept' },
    )
    expect(response.status).toBe(202)
    const { id } = (await response.json()) as { id: string }
    await relay.waitForStatus(id, 'delivered')
    const spans = await spansAfterStop(id, relay)

    const [intake, ...others] = named(spans, 'POST /webhook')
    expect(others).toEqual([])
    expect(intake).toMatchObject({
      traceId: CLIENT_TRACE,
      parentSpanId: CLIENT_SPAN,
      kind: SERVER,
      attributes: {
        'http.request.method': 'POST',
        'http.route': '/webhook',
        'http.response.status_code': 202,
        'llm_relay.outcome': 'accepted',
        'llm_relay.job.id': id,
        'llm_relay.conversation.id': 'conv-traced',
        'gen_ai.request.model': 'fake/model',
      },
      resource: { 'service.name': 'relay-under-test' },
    })

    const llm = named(spans, 'chat fake/model')
    expect(llm.map((s) => [s.attributes['llm_relay.attempt'], s.attributes['llm_relay.outcome']])).toEqual([
      [1, 'retry'],
      [2, 'answered'],
    ])
    expect(llm[0]).toMatchObject({ status: ERROR, attributes: { 'error.type': 'llm_unavailable' } })
    expect(llm[1]?.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'fake/model',
      'gen_ai.response.model': 'fake/model',
      'gen_ai.usage.input_tokens': 10,
      'gen_ai.usage.output_tokens': 5,
      'llm_relay.conversation.id': 'conv-traced',
    })

    const callbacks = named(spans, 'POST callback')
    expect(
      callbacks.map((s) => [
        s.attributes['llm_relay.attempt'],
        s.attributes['llm_relay.outcome'],
        s.attributes['http.response.status_code'],
      ]),
    ).toEqual([
      [1, 'retry', 500],
      [2, 'delivered', 200],
    ])
    expect(callbacks[0]).toMatchObject({
      status: ERROR,
      attributes: { 'error.type': 'callback_http_status' },
    })
    expect(callbacks[1]?.attributes).toMatchObject({
      'llm_relay.event': 'job.completed',
      'server.address': '127.0.0.1',
    })

    // One trace: every attempt is a child of the intake span, a client span of its own.
    for (const span of [...llm, ...callbacks])
      expect(span).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: intake?.spanId, kind: CLIENT })
    expect(spans).toHaveLength(5)

    // What the LLM API and the receiver were sent names the span of their attempt, in that trace.
    const sentToLlm = relay.llm.calls.map((c) => c.headers.get('traceparent'))
    expect(sentToLlm).toEqual(llm.map((s) => traceparentOf(CLIENT_TRACE, s.spanId)))
    expect(relay.llm.calls.map((c) => c.headers.get('tracestate'))).toEqual(['vendor=kept', 'vendor=kept'])
    const sentToReceiver = relay.sink.forJob(id).map((r) => r.headers.get('traceparent'))
    expect(sentToReceiver).toEqual(callbacks.map((s) => traceparentOf(CLIENT_TRACE, s.spanId)))
  })

  test('without a traceparent (or with a malformed one) the intake span starts a trace of its own', async () => {
    const relay = await tracedRelay()
    const plain = await relay.send('no trace given')
    const bad = await relay.post(
      { message: 'bad trace given', callback_url: `${relay.sink.url}/hook` },
      { traceparent: '00-not-a-trace-id-01' },
    )
    expect(bad.status).toBe(202)
    const malformed = (await bad.json()) as { id: string }
    await relay.waitForStatus(plain.id, 'delivered')
    await relay.waitForStatus(malformed.id, 'delivered')
    await relay.stop()
    const traces = new Set<string>()
    for (const id of [plain.id, malformed.id]) {
      const spans = receiver.spansOf(id)
      const [intake] = named(spans, 'POST /webhook')
      expect(intake?.parentSpanId).toBeUndefined()
      expect(spans.map((s) => s.name).sort()).toEqual(['POST /webhook', 'POST callback', 'chat fake/model'])
      for (const span of spans) expect(span.traceId).toBe(intake?.traceId as string)
      traces.add(intake?.traceId as string)
    }
    expect(traces.size).toBe(2)
    expect(relay.llm.calls.every((c) => TRACEPARENT.test(c.headers.get('traceparent') ?? ''))).toBe(true)
  })

  test('a client that says "not sampled" is obeyed: no span is sent, the trace context still goes on', async () => {
    const relay = await tracedRelay()
    const response = await relay.post(
      { message: 'do not sample', callback_url: `${relay.sink.url}/hook` },
      { traceparent: traceparentOf(CLIENT_TRACE, CLIENT_SPAN, '00') },
    )
    const { id } = (await response.json()) as { id: string }
    await relay.waitForStatus(id, 'delivered')
    expect(await spansAfterStop(id, relay)).toEqual([])
    const sent = relay.llm.calls[0]?.headers.get('traceparent') ?? ''
    expect(sent).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-00$`))
    expect(relay.sink.forJob(id)[0]?.headers.get('traceparent')).toMatch(
      new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-00$`),
    )
  })

  test('a refused request and a replay are intake spans with their outcome and status', async () => {
    const relay = await tracedRelay()
    const key = { 'idempotency-key': 'traced-once' }
    const body = { message: 'once', callback_url: `${relay.sink.url}/hook` }
    const first = (await (await relay.post(body, key)).json()) as { id: string }
    expect((await relay.post(body, key)).status).toBe(200)
    const tooBig = { ...body, metadata: { blob: 'x'.repeat(5000) } }
    expect((await relay.post(tooBig)).status).toBe(422)
    await relay.waitForStatus(first.id, 'delivered')
    await relay.stop()
    const intakes = receiver.spans.filter((s) => s.name === 'POST /webhook')
    expect(
      intakes.map((s) => [s.attributes['llm_relay.outcome'], s.attributes['http.response.status_code']]),
    ).toEqual([
      ['accepted', 202],
      ['replayed', 200],
      ['refused', 422],
    ])
    expect(intakes[1]?.attributes['llm_relay.job.id']).toBe(first.id)
  })

  test('an LLM call stopped by a cancel is a span with outcome cancelled, and no callback span follows', async () => {
    const relay = await tracedRelay()
    const held = relay.llm.hold()
    const { id } = await relay.send('cancel me mid-call')
    await held.received
    expect((await fetch(`${relay.url}/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200)
    held.release()
    await relay.waitForStatus(id, 'cancelled')
    const spans = await spansAfterStop(id, relay)
    const [llm, ...more] = named(spans, 'chat fake/model')
    expect(more).toEqual([])
    expect(llm?.attributes['llm_relay.outcome']).toBe('cancelled')
    expect(named(spans, 'POST callback')).toEqual([])
  })

  test('the job keeps its trace across a restart: the attempts of another run are children of the intake span', async () => {
    const accepting = await tracedRelay({ RELAY_ROLE: 'api', OTEL_SERVICE_NAME: 'intake-side' })
    const { id } = await accepting.send('answered after a restart')
    await accepting.stop()
    const answering = await tracedRelay({
      DATABASE_URL: `sqlite:${join(accepting.dir, 'relay.db')}`,
      OTEL_SERVICE_NAME: 'worker-side',
    })
    // Its callback goes to the first relay's sink, which is still up.
    await accepting.sink.waitForJob(id)
    await answering.waitForStatus(id, 'delivered')
    const spans = await spansAfterStop(id, answering)
    const [intake] = named(spans, 'POST /webhook')
    expect(intake?.resource['service.name']).toBe('intake-side')
    const attempts = spans.filter((s) => s !== intake)
    expect(attempts.map((s) => s.name).sort()).toEqual(['POST callback', 'chat fake/model'])
    for (const span of attempts)
      expect(span).toMatchObject({
        traceId: intake?.traceId,
        parentSpanId: intake?.spanId,
        resource: { 'service.name': 'worker-side' },
      })
  })
})

describe('a collector that is away', () => {
  test('loses spans, never jobs: the job is delivered, the stop does not hang, the log says so', async () => {
    const collector = new OtlpReceiver()
    const unreachable = collector.url
    collector.stop()
    const relay = await tracedRelay({ OTEL_EXPORTER_OTLP_ENDPOINT: unreachable })
    const { id } = await relay.send('nobody collects')
    await relay.waitForStatus(id, 'delivered')
    await relay.stop()
    expect(relay.logs.join('\n')).toContain('traces: ')
  }, 20_000)
})

describe('what spans hold', () => {
  test('no attribute holds message text, an answer, metadata, a callback path or a secret; the collector gets its header', async () => {
    const apiKey = 'traces-client-key-0123456789abcdef'
    const collectorKey = 'collector-key-0123456789abcdef'
    const signing = `whsec_${Buffer.from('traces-test-signing-secret-1234').toString('base64')}`
    const relay = await tracedRelay({
      API_KEYS: `client:${apiKey}`,
      CALLBACK_SECRET: signing,
      OTEL_EXPORTER_OTLP_HEADERS: `x-collector-key=${collectorKey}`,
    })
    const marker = 'SECRET-MESSAGE-TEXT-7f3a'
    const response = await relay.post(
      {
        message: `${marker} please`,
        callback_url: `${relay.sink.url}/hook/path-token-9c1d?token=query-token-5e2b`,
        system_prompt: 'SYSTEM-PROMPT-TEXT-2b8e',
        metadata: { note: 'METADATA-TEXT-4d6f' },
      },
      { authorization: `Bearer ${apiKey}` },
    )
    expect(response.status).toBe(202)
    const { id } = (await response.json()) as { id: string }
    await relay.sink.waitForJob(id)
    await relay.stop()
    expect(receiver.spansOf(id).length).toBe(3)
    const exported = receiver.raw.join('\n')
    for (const text of [
      marker,
      `echo: ${marker}`,
      'SYSTEM-PROMPT-TEXT-2b8e',
      'METADATA-TEXT-4d6f',
      'path-token-9c1d',
      'query-token-5e2b',
      apiKey,
      collectorKey,
      TEST_LLM_KEY,
      signing,
      signing.slice('whsec_'.length),
    ])
      expect({ text, exported: exported.includes(text) }).toEqual({ text, exported: false })
    expect(receiver.requestHeaders[0]?.get('x-collector-key')).toBe(collectorKey)
    // The collector's key is a secret like the others: masked by check-config, scrubbed from text.
    expect(relay.logs.join('\n')).not.toContain(collectorKey)
  })
})

describe('free when off', () => {
  test('without OTEL_EXPORTER_OTLP_ENDPOINT no job keeps a trace context and nothing is sent or given on', async () => {
    const relay = await startTestRelay()
    relays.push(relay)
    const { id } = await relay.send('untraced', { conversation_id: 'plain' })
    await relay.sink.waitForJob(id)
    await relay.stop()
    const db = new Database(join(relay.dir, 'relay.db'), { readonly: true })
    try {
      expect(db.query('SELECT trace_context FROM jobs WHERE id = ?').get(id)).toEqual({ trace_context: null })
    } finally {
      db.close()
    }
    expect(relay.llm.calls[0]?.headers.get('traceparent')).toBeNull()
    expect(relay.sink.forJob(id)[0]?.headers.get('traceparent')).toBeNull()
    expect(receiver.spans).toEqual([])
  })

  test('without OTEL_EXPORTER_OTLP_ENDPOINT no OpenTelemetry module is loaded (with it, they are)', async () => {
    // A process of its own: this one has loaded the SDK for the tests above.
    const script = join(import.meta.dir, 'support', 'loaded-modules.ts')
    const off = await runCommand([process.execPath, script, 'off'])
    expect(off.code).toBe(0)
    expect(JSON.parse(off.out)).toEqual({ delivered: true, tracing: [] })
    const on = await runCommand([process.execPath, script, 'on'])
    expect(on.code).toBe(0)
    const loaded = JSON.parse(on.out) as { delivered: boolean; tracing: string[] }
    expect(loaded.delivered).toBe(true)
    expect(loaded.tracing).toContain('src/telemetry/otlp-tracer.ts')
    expect(loaded.tracing.some((m) => m.includes('@opentelemetry/sdk-trace'))).toBe(true)
  }, 30_000)
})

// The fleet: accepted by one instance, answered by another, one trace.
const pgTest = testIf(postgres, 'traces across a PostgreSQL fleet')
const schemas: string[] = []
afterAll(async () => {
  await Promise.all(schemas.map(dropSchema))
})

pgTest('in a fleet: intake on the api instance, the attempts on the worker instance, one trace', async () => {
  const schema = freshSchema('relay_traces')
  schemas.push(schema)
  const DATABASE_URL = databaseUrl(schema)
  const api = await tracedRelay({ DATABASE_URL, RELAY_ROLE: 'api', OTEL_SERVICE_NAME: 'api-instance' })
  const worker = await tracedRelay({
    DATABASE_URL,
    RELAY_ROLE: 'worker',
    OTEL_SERVICE_NAME: 'worker-instance',
  })
  const response = await api.post(
    { message: 'across the fleet', callback_url: `${api.sink.url}/hook` },
    { traceparent: traceparentOf(CLIENT_TRACE, CLIENT_SPAN) },
  )
  const { id } = (await response.json()) as { id: string }
  await api.sink.waitForJob(id)
  await api.waitForStatus(id, 'delivered')
  const spans = await spansAfterStop(id, api, worker)
  const [intake] = named(spans, 'POST /webhook')
  expect(intake).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: CLIENT_SPAN })
  expect(intake?.resource['service.name']).toBe('api-instance')
  const attempts = spans.filter((s) => s !== intake)
  expect(attempts.map((s) => s.name).sort()).toEqual(['POST callback', 'chat fake/model'])
  for (const span of attempts)
    expect(span).toMatchObject({
      traceId: CLIENT_TRACE,
      parentSpanId: intake?.spanId,
      resource: { 'service.name': 'worker-instance' },
    })
  expect(worker.llm.calls[0]?.headers.get('traceparent')).toStartWith(`00-${CLIENT_TRACE}-`)
})

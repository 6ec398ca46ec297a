import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import { Webhook } from 'standardwebhooks'
// Elysia registers the string formats (date-time) that Value.Check needs.
import 'elysia'
import { JobToolCallsEvent } from '../src/contract/callback-payload.ts'
import type { Received } from './support/callback-sink.ts'
import { type ChatMessage, completion, toolCallsAnswer } from './support/fake-llm.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { submitResults, TOOLS } from './support/tools.ts'

/*
 * Tools over webhooks, end to end against the fake LLM: the model's calls go out as signed
 * `job.tool_calls` events, the client answers with POST /jobs/{id}/tool_results, and the
 * model goes on with the results until it answers.
 */

const SECRET = `whsec_${Buffer.from('a-tools-test-signing-secret-32by').toString('base64')}`

const headersOf = (h: Headers) => Object.fromEntries(h.entries())

/** The messages after the user's `message`, in the shape the LLM API got them. */
const after = (messages: ChatMessage[], message: string) =>
  messages.slice(messages.findLastIndex((m) => m.role === 'user' && m.content === message) + 1)

const eventOf = (r: Received | undefined) => {
  if (!r) throw new Error('no event')
  return r.body as unknown as { type: string; data: Record<string, unknown> }
}

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay({ CALLBACK_SECRET: SECRET })
})
afterAll(() => relay.close())

describe('a tool loop', () => {
  test('two rounds end to end: signed job.tool_calls events, results in, the answer as job.completed, the whole exchange in history', async () => {
    relay.llm.next(
      toolCallsAnswer([{ id: 'call_1', name: 'get_order', arguments: { number: 'A-1' } }]),
      toolCallsAnswer([
        { id: 'call_2', name: 'get_weather', arguments: { city: 'Oslo' } },
        { id: 'call_3', name: 'get_order', arguments: { number: 'B-2' } },
      ]),
      (call) => completion('A-1 has shipped, B-2 is packed, and Oslo is sunny.', call.body.model),
    )
    const callsBefore = relay.llm.calls.length
    const message = 'Where are my orders A-1 and B-2, and what is the weather?'
    const { id } = await relay.send(message, { conversation_id: 'tools-e2e', llm: { tools: TOOLS } })

    const [first] = await relay.sink.waitForEvents(id, 'job.tool_calls')
    if (!first) throw new Error('no first event')
    expect(new Webhook(SECRET).verify(first.raw, headersOf(first.headers))).toEqual(first.body)
    expect(first.headers.get('webhook-id')).toBe(`${id}_tool_calls_1`)
    expect(Value.Check(JobToolCallsEvent, first.body)).toBe(true)
    expect(eventOf(first).data).toMatchObject({
      id,
      round: 1,
      sequence: 1,
      message,
      tool_calls: [{ id: 'call_1', name: 'get_order', arguments: { number: 'A-1' } }],
      content: null,
    })
    const awaiting = await relay.waitForStatus(id, 'awaiting_tool_results')
    expect(awaiting.tool_calls).toEqual([{ id: 'call_1', name: 'get_order', arguments: { number: 'A-1' } }])
    expect(awaiting.tool_rounds).toBe(1)
    expect(awaiting.tool_results_due_at).toBe(eventOf(first).data.results_due_at as string)

    // The conversation waits for the turn to end: this message is answered after the loop.
    const next = await relay.send('Thanks!', { conversation_id: 'tools-e2e' })

    const accepted = await submitResults(relay.url, id, [
      { tool_call_id: 'call_1', content: '{"status":"shipped"}' },
    ])
    expect(accepted.status).toBe(202)
    expect(await accepted.json()).toEqual({ id, status: 'queued' })

    const [, second] = await relay.sink.waitForEvents(id, 'job.tool_calls', 2)
    if (!second) throw new Error('no second event')
    expect(new Webhook(SECRET).verify(second.raw, headersOf(second.headers))).toEqual(second.body)
    expect(second.headers.get('webhook-id')).toBe(`${id}_tool_calls_2`)
    expect(eventOf(second).data).toMatchObject({ round: 2 })
    await relay.waitForStatus(id, 'awaiting_tool_results')
    // Any order: each call answered once.
    const done = await submitResults(relay.url, id, [
      { tool_call_id: 'call_3', content: '{"status":"packed"}' },
      { tool_call_id: 'call_2', content: 'sunny, 21 °C' },
    ])
    expect(done.status).toBe(202)

    const [completed] = await relay.sink.waitForEvents(id, 'job.completed')
    expect(completed?.headers.get('webhook-id')).toBe(id)
    expect(
      new Webhook(SECRET).verify(completed?.raw ?? '', headersOf(completed?.headers ?? new Headers())),
    ).toEqual(completed?.body)
    expect(completed?.body.data.response).toBe('A-1 has shipped, B-2 is packed, and Oslo is sunny.')
    // Three calls of 15 tokens each.
    expect(completed?.body.data.usage?.total_tokens).toBe(45)

    // The model saw its own calls and the results, in the OpenAI shape, in order.
    await relay.sink.waitForJob(next.id)
    const calls = relay.llm.calls.slice(callsBefore)
    expect(calls).toHaveLength(4)
    expect(calls[1]?.body.tools).toEqual(TOOLS)
    expect(after(calls[1]?.body.messages ?? [], message)).toEqual([
      {
        role: 'assistant',
        content: null as unknown as string,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_order', arguments: '{"number":"A-1"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"status":"shipped"}' },
    ])
    expect(after(calls[2]?.body.messages ?? [], message).map((m) => [m.role, m.tool_call_id ?? ''])).toEqual([
      ['assistant', ''],
      ['tool', 'call_1'],
      ['assistant', ''],
      ['tool', 'call_2'],
      ['tool', 'call_3'],
    ])
    // The next message of the conversation came only after the turn, and sees the whole exchange.
    const later = calls[3]?.body.messages ?? []
    expect(later.at(-1)?.content).toBe('Thanks!')
    expect(later.map((m) => m.role)).toEqual([
      'system',
      'user',
      'assistant',
      'tool',
      'assistant',
      'tool',
      'tool',
      'assistant',
      'user',
    ])

    const history = (await (await fetch(`${relay.url}/conversations/tools-e2e`)).json()) as {
      messages: { role: string; content: string; tool_calls?: unknown[]; tool_call_id?: string }[]
    }
    expect(history.messages.map((m) => [m.role, m.tool_call_id ?? m.tool_calls?.length ?? ''])).toEqual([
      ['user', ''],
      ['assistant', 1],
      ['tool', 'call_1'],
      ['assistant', 2],
      ['tool', 'call_2'],
      ['tool', 'call_3'],
      ['assistant', ''],
      ['user', ''],
      ['assistant', ''],
    ])
    expect(history.messages[1]?.tool_calls).toEqual([
      { id: 'call_1', name: 'get_order', arguments: { number: 'A-1' } },
    ])
    // One event per round, each under its own webhook-id, and one answer.
    expect(relay.sink.toolCallsFor(id).map((r) => r.headers.get('webhook-id'))).toEqual([
      `${id}_tool_calls_1`,
      `${id}_tool_calls_2`,
    ])
    expect(relay.sink.forJob(id).filter((r) => r.body.type === 'job.completed')).toHaveLength(1)
    const view = await relay.waitForStatus(id, 'delivered')
    expect(view).toMatchObject({ tool_rounds: 2, tool_calls: null, attempts: { llm: 3, delivery: 3 } })
  })
})

/** A job of its own conversation that called `calls` and awaits their results. */
async function awaitingJob(
  r: TestRelay,
  conversation: string,
  calls: { id: string; name: string; arguments: unknown }[],
): Promise<string> {
  r.llm.next(toolCallsAnswer(calls))
  const { id } = await r.send('use the tools', { conversation_id: conversation, llm: { tools: TOOLS } })
  await r.sink.waitForEvents(id, 'job.tool_calls')
  await r.waitForStatus(id, 'awaiting_tool_results')
  return id
}

describe('POST /jobs/{id}/tool_results', () => {
  const two = [
    { id: 'call_a', name: 'get_order', arguments: { number: 'A-1' } },
    { id: 'call_b', name: 'get_weather', arguments: { city: 'Oslo' } },
  ]
  const result = (id: string) => ({ tool_call_id: id, content: `result of ${id}` })
  const problemOf = async (response: Response) => ({
    status: response.status,
    type: response.headers.get('content-type'),
    body: (await response.json()) as { detail: string; errors?: { field: string; message: string }[] },
  })

  test('a call left out, an unknown call and a call answered twice are 422s naming each; nothing changes', async () => {
    const id = await awaitingJob(relay, 'tools-invalid', two)
    const missing = await problemOf(await submitResults(relay.url, id, [result('call_a')]))
    expect(missing).toMatchObject({ status: 422, type: 'application/problem+json' })
    expect(missing.body.errors).toEqual([{ field: '/results', message: 'must answer call_b too' }])
    const extra = await problemOf(
      await submitResults(relay.url, id, [result('call_a'), result('call_b'), result('call_c')]),
    )
    expect(extra.status).toBe(422)
    expect(extra.body.errors).toEqual([
      { field: '/results/2/tool_call_id', message: 'names no call this job is waiting for' },
    ])
    const twice = await problemOf(
      await submitResults(relay.url, id, [result('call_a'), result('call_a'), result('call_b')]),
    )
    expect(twice.status).toBe(422)
    expect(twice.body.errors).toEqual([
      { field: '/results/1/tool_call_id', message: 'answers a call already answered above' },
    ])
    const empty = await problemOf(await submitResults(relay.url, id, []))
    expect(empty.status).toBe(422)
    expect(empty.body.errors?.[0]?.field).toBe('/results')
    const notText = await problemOf(
      await submitResults(relay.url, id, { results: [{ tool_call_id: 'call_a', content: { toString: 1 } }] }),
    )
    expect(notText).toMatchObject({ status: 422 })
    expect(notText.body.errors).toEqual([{ field: '/results/0/content', message: 'must be a string' }])
    const view = await relay.job(id)
    expect(view).toMatchObject({ status: 'awaiting_tool_results', tool_rounds: 1 })
    expect(view.tool_calls?.map((c) => c.id)).toEqual(['call_a', 'call_b'])
  })

  test('a second submission is a 409, as are results for a job that waits for none; an unknown job a 404', async () => {
    const id = await awaitingJob(relay, 'tools-twice', two)
    const first = await submitResults(relay.url, id, [result('call_b'), result('call_a')])
    expect(first.status).toBe(202)
    const again = await problemOf(await submitResults(relay.url, id, [result('call_a'), result('call_b')]))
    expect(again.status).toBe(409)
    expect(again.body.detail).toContain('submitted already')
    await relay.sink.waitForEvents(id, 'job.completed')
    const late = await problemOf(await submitResults(relay.url, id, [result('call_a'), result('call_b')]))
    expect(late.status).toBe(409)

    const plain = await relay.send('no tools here', { conversation_id: 'tools-plain' })
    await relay.sink.waitForJob(plain.id)
    const notAwaiting = await problemOf(await submitResults(relay.url, plain.id, [result('call_a')]))
    expect(notAwaiting.status).toBe(409)
    expect(notAwaiting.body.detail).toContain('is not waiting for tool results')

    expect((await submitResults(relay.url, 'no-such-job', [result('call_a')])).status).toBe(404)
    // The results that were taken are the ones the model read.
    const call = relay.llm.calls.findLast((c) => c.body.messages.some((m) => m.tool_call_id === 'call_a'))
    expect(call?.body.messages.filter((m) => m.role === 'tool').map((m) => m.content)).toEqual([
      'result of call_a',
      'result of call_b',
    ])
  })

  test('a body that is not JSON is refused before anything is read', async () => {
    const response = await fetch(`${relay.url}/jobs/x/tool_results`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'results',
    })
    expect(response.status).toBe(415)
  })
})

describe('MAX_TOOL_ROUNDS', () => {
  let limited: TestRelay
  beforeAll(async () => {
    limited = await startTestRelay({ MAX_TOOL_ROUNDS: '1' })
  })
  afterAll(() => limited.close())

  test('a model that asks for tools once more fails the job with llm_tool_rounds; nothing joins history, the next message goes', async () => {
    const id = await awaitingJob(limited, 'tools-max', [
      { id: 'call_1', name: 'get_order', arguments: { number: 'A-1' } },
    ])
    limited.llm.next(toolCallsAnswer([{ id: 'call_2', name: 'get_order', arguments: { number: 'A-2' } }]))
    const next = await limited.send('and now?', { conversation_id: 'tools-max' })
    expect((await submitResults(limited.url, id, [{ tool_call_id: 'call_1', content: 'ok' }])).status).toBe(
      202,
    )
    const [failed] = await limited.sink.waitForEvents(id, 'job.failed')
    expect(failed?.body.data.error?.code).toBe('llm_tool_rounds')
    expect(failed?.body.data.error?.message).toContain('MAX_TOOL_ROUNDS is 1')
    expect(failed?.headers.get('webhook-id')).toBe(id)
    await limited.sink.waitForJob(next.id)
    const history = (await (await fetch(`${limited.url}/conversations/tools-max`)).json()) as {
      messages: { role: string; content: string }[]
    }
    expect(history.messages.map((m) => m.role)).toEqual(['user', 'assistant'])
    expect(history.messages[0]?.content).toBe('and now?')
    expect(limited.sink.toolCallsFor(id)).toHaveLength(1)
  })
})

describe('calls the relay does not pass on', () => {
  test('a call of an unknown tool is shown to the model once, not passed on; the fitting call that follows goes out', async () => {
    relay.llm.next(
      toolCallsAnswer([{ id: 'call_x', name: 'delete_everything', arguments: {} }]),
      toolCallsAnswer([{ id: 'call_y', name: 'get_order', arguments: { number: 'A-7' } }]),
    )
    const { id } = await relay.send('find A-7', { conversation_id: 'tools-wrong', llm: { tools: TOOLS } })
    const [event] = await relay.sink.waitForEvents(id, 'job.tool_calls')
    expect(eventOf(event).data.tool_calls).toEqual([
      { id: 'call_y', name: 'get_order', arguments: { number: 'A-7' } },
    ])
    const retry = relay.llm.calls.findLast((c) =>
      c.body.messages.some((m) => m.content?.includes('delete_everything')),
    )
    expect(after(retry?.body.messages ?? [], 'find A-7').map((m) => m.role)).toEqual(['assistant', 'user'])
    expect(retry?.body.messages.at(-1)?.content).toContain('There is no tool "delete_everything"')
    expect(relay.sink.toolCallsFor(id)).toHaveLength(1)
  })
})

test('Prefer: wait answers 200 with the calls as soon as the job awaits their results', async () => {
  relay.llm.next(toolCallsAnswer([{ id: 'call_w', name: 'get_weather', arguments: { city: 'Rome' } }]))
  const response = await relay.post(
    {
      message: 'weather in Rome?',
      callback_url: `${relay.sink.url}/hook`,
      conversation_id: 'tools-wait',
      llm: { tools: TOOLS },
    },
    { prefer: 'wait=10' },
  )
  expect(response.status).toBe(200)
  const view = (await response.json()) as { status: string; tool_calls: unknown[] }
  expect(view.status).toBe('awaiting_tool_results')
  expect(view.tool_calls).toEqual([{ id: 'call_w', name: 'get_weather', arguments: { city: 'Rome' } }])
})

describe('with API keys', () => {
  const A = 'client-a:aaaaaaaaaaaaaaaaaaaaaaaa'
  const B = 'client-b:bbbbbbbbbbbbbbbbbbbbbbbb'
  let keyed: TestRelay
  beforeAll(async () => {
    keyed = await startTestRelay({ API_KEYS: `${A},${B}` })
  })
  afterAll(() => keyed.close())

  test('results are owner-scoped like GET /jobs/{id}: another client gets 404 and changes nothing', async () => {
    const asA = { authorization: `Bearer ${A.split(':')[1]}` }
    const asB = { authorization: `Bearer ${B.split(':')[1]}` }
    keyed.llm.next(toolCallsAnswer([{ id: 'call_k', name: 'get_order', arguments: { number: 'K-1' } }]))
    const sent = await keyed.post(
      { message: 'mine', callback_url: `${keyed.sink.url}/hook`, llm: { tools: TOOLS } },
      asA,
    )
    const { id } = (await sent.json()) as { id: string }
    await keyed.sink.waitForEvents(id, 'job.tool_calls')
    const results = [{ tool_call_id: 'call_k', content: 'shipped' }]
    expect((await submitResults(keyed.url, id, results)).status).toBe(401)
    expect((await submitResults(keyed.url, id, results, asB)).status).toBe(404)
    const view = (await (await fetch(`${keyed.url}/jobs/${id}`, { headers: asA })).json()) as {
      status: string
    }
    expect(view.status).toBe('awaiting_tool_results')
    expect((await submitResults(keyed.url, id, results, asA)).status).toBe(202)
    await keyed.sink.waitForEvents(id, 'job.completed')
  })
})

test('a job awaiting its results can be cancelled: results then get 409, nothing joins history, the conversation goes on', async () => {
  const id = await awaitingJob(relay, 'tools-cancel', [
    { id: 'call_c', name: 'get_order', arguments: { number: 'C-1' } },
  ])
  const next = await relay.send('never mind', { conversation_id: 'tools-cancel' })
  const cancelled = await fetch(`${relay.url}/jobs/${id}/cancel`, { method: 'POST' })
  expect(cancelled.status).toBe(200)
  expect(((await cancelled.json()) as { status: string }).status).toBe('cancelled')
  const late = await submitResults(relay.url, id, [{ tool_call_id: 'call_c', content: 'found' }])
  expect(late.status).toBe(409)
  const [answered] = await relay.sink.waitForJob(next.id)
  expect(answered?.body.data.response).toBe('echo: never mind')
  const history = (await (await fetch(`${relay.url}/conversations/tools-cancel`)).json()) as {
    messages: { content: string }[]
  }
  expect(history.messages.map((m) => m.content)).toEqual(['never mind', 'echo: never mind'])
  expect(relay.sink.forJob(id).map((r) => r.body.type as string)).toEqual(['job.tool_calls'])
})

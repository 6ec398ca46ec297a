import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import { Webhook } from 'standardwebhooks'
// Elysia registers the string formats (date-time) that Value.Check needs.
import 'elysia'
import { JobToolCallsEvent } from '../src/contract/callback-payload.ts'
import type { Received } from './support/callback-sink.ts'
import { type ChatMessage, completion, toolCallsAnswer } from './support/fake-llm.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'

/*
 * Tools over webhooks, end to end against the fake LLM: the model's calls go out as signed
 * `job.tool_calls` events, the client answers with POST /jobs/{id}/tool_results, and the
 * model goes on with the results until it answers.
 */

const SECRET = `whsec_${Buffer.from('a-tools-test-signing-secret-32by').toString('base64')}`

export const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_order',
      description: 'Look an order up by its number.',
      parameters: { type: 'object', properties: { number: { type: 'string' } }, required: ['number'] },
    },
  },
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
]

const headersOf = (h: Headers) => Object.fromEntries(h.entries())

export function submitResults(
  url: string,
  id: string,
  results: { tool_call_id: string; content: string }[] | unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${url}/jobs/${id}/tool_results`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(Array.isArray(results) ? { results } : results),
  })
}

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

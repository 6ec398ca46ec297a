import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { completion, FAKE_COST, jsonAnswer } from './support/fake-llm.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay({ LLM_TEMPERATURE: '0.7', LLM_MAX_TOKENS: '800' })
})
afterAll(() => relay.close())

const ticket = {
  type: 'json_schema',
  json_schema: {
    name: 'ticket',
    strict: true,
    schema: {
      type: 'object',
      properties: { category: { enum: ['billing', 'bug', 'other'] }, urgent: { type: 'boolean' } },
      required: ['category', 'urgent'],
      additionalProperties: false,
    },
  },
}

/** The LLM calls made for one message (the last user message is the job's own, or the correction after it). */
const callsFor = (message: string) =>
  relay.llm.calls.filter((c) => c.body.messages.some((m) => m.role === 'user' && m.content === message))

describe('per-request LLM parameters', () => {
  test('each parameter reaches the LLM request unchanged, and the job shows them', async () => {
    const llm = {
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 123,
      stop: ['END'],
      seed: 7,
      reasoning: { effort: 'low' },
    }
    const { id } = await relay.send('params please', { conversation_id: 'params', llm })
    await relay.sink.waitForJob(id)
    const [call] = callsFor('params please')
    expect(call?.body).toMatchObject(llm)
    expect(((await relay.job(id)) as unknown as { llm: unknown }).llm).toEqual(llm)
  })

  test('LLM_TEMPERATURE and LLM_MAX_TOKENS fill in what a request leaves out', async () => {
    const { id } = await relay.send('defaults please', { conversation_id: 'defaults', llm: { seed: 1 } })
    await relay.sink.waitForJob(id)
    expect(callsFor('defaults please')[0]?.body).toMatchObject({ temperature: 0.7, max_tokens: 800, seed: 1 })
    const { id: bare } = await relay.send('no llm object', { conversation_id: 'defaults-2' })
    await relay.sink.waitForJob(bare)
    expect(callsFor('no llm object')[0]?.body).toMatchObject({ temperature: 0.7, max_tokens: 800 })
  })

  const refused: [string, unknown, string][] = [
    ['temperature 3', { temperature: 3 }, '/llm/temperature'],
    ['max_tokens 0', { max_tokens: 0 }, '/llm/max_tokens'],
    ['five stop sequences', { stop: ['a', 'b', 'c', 'd', 'e'] }, '/llm/stop'],
    ['an unknown parameter', { logit_bias: {} }, '/llm/logit_bias'],
    [
      'a schema with an unknown type',
      { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'strnig' } } } },
      '/llm/response_format/json_schema/schema/type',
    ],
    [
      'a schema over 16 KB',
      {
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'x', schema: { description: 'x'.repeat(17_000) } },
        },
      },
      '/llm/response_format/json_schema/schema',
    ],
  ]
  for (const [name, llm, field] of refused)
    test(`${name} is a 422 naming ${field}, and nothing is enqueued`, async () => {
      const before = relay.countJobs()
      const response = await relay.post({ message: 'hi', callback_url: `${relay.sink.url}/hook`, llm })
      expect(response.status).toBe(422)
      const problem = (await response.json()) as { errors: { field: string }[] }
      expect(problem.errors.map((e) => e.field)).toContain(field)
      expect(relay.countJobs()).toBe(before)
    })
})

describe('structured output', () => {
  test('an answer valid against the schema arrives as output beside the response', async () => {
    relay.llm.next(jsonAnswer({ category: 'billing', urgent: true }))
    const { id } = await relay.send('charged twice', {
      conversation_id: 'so-valid',
      llm: { response_format: ticket },
    })
    const [callback] = await relay.sink.waitForJob(id)
    expect(callback?.body.type).toBe('job.completed')
    expect(callback?.body.data).toMatchObject({
      response: '{"category":"billing","urgent":true}',
      output: { category: 'billing', urgent: true },
    })
    const job = (await relay.waitForStatus(id, 'delivered')) as unknown as { output: unknown }
    expect(job.output).toEqual({ category: 'billing', urgent: true })
    expect(callsFor('charged twice')[0]?.body.response_format).toEqual(ticket)
  })

  test('an invalid answer is tried once more with the problem shown to the model, then the valid one is kept', async () => {
    relay.llm.next(
      jsonAnswer({ category: 'sales', urgent: 'yes' }),
      jsonAnswer({ category: 'other', urgent: false }),
    )
    const { id } = await relay.send('please sort me', {
      conversation_id: 'so-retry',
      llm: { response_format: ticket },
    })
    const [callback] = await relay.sink.waitForJob(id)
    expect(callback?.body.data.output).toEqual({ category: 'other', urgent: false })
    const [first, second] = callsFor('please sort me')
    expect(first?.body.messages.at(-1)).toEqual({ role: 'user', content: 'please sort me' })
    // The retry shows the rejected answer, then what was wrong with it.
    expect(second?.body.messages.at(-2)).toEqual({
      role: 'assistant',
      content: '{"category":"sales","urgent":"yes"}',
    })
    expect(second?.body.messages.at(-1)?.content).toContain('at /category')
    expect(second?.body.response_format).toEqual(ticket)
    const job = await relay.waitForStatus(id, 'delivered')
    expect(job.attempts.llm).toBe(2)
    // History keeps the text, not the correction.
    const history = (await (await fetch(`${relay.url}/conversations/so-retry`)).json()) as {
      messages: { role: string; content: string }[]
    }
    expect(history.messages.map((m) => m.content)).toEqual([
      'please sort me',
      '{"category":"other","urgent":false}',
    ])
  })

  test('invalid for good: llm_invalid_output with the last answer in the error; nothing joins history', async () => {
    relay.llm.next(
      () => completion('Sure! Here is your JSON: {"category": "bug"}'),
      () => completion('I cannot do JSON today.'),
    )
    const { id } = await relay.send('never valid', {
      conversation_id: 'so-bad',
      llm: { response_format: ticket },
    })
    const [callback] = await relay.sink.waitForJob(id)
    expect(callback?.body.type).toBe('job.failed')
    expect(callback?.body.data.error?.code).toBe('llm_invalid_output')
    expect(callback?.body.data.error?.message).toContain('I cannot do JSON today.')
    expect(callsFor('never valid')).toHaveLength(2)
    expect((await fetch(`${relay.url}/conversations/so-bad`)).status).toBe(404)
  })

  test('json_object: any JSON object is output', async () => {
    const { id } = await relay.send('echo as json', {
      conversation_id: 'so-object',
      llm: { response_format: { type: 'json_object' } },
    })
    const [callback] = await relay.sink.waitForJob(id)
    expect(callback?.body.data.output).toEqual({ echo: 'echo: echo as json' })
  })

  test('a text answer has no output', async () => {
    const { id } = await relay.send('plain', { conversation_id: 'so-text' })
    const [callback] = await relay.sink.waitForJob(id)
    expect(callback?.body.data.output).toBeNull()
  })
})

describe('cost', () => {
  test('usage.cost is kept with the tokens, sent in the callback and summed in /metrics by model', async () => {
    relay.llm.next(() => completion('costly', 'paid/model', { cost: 0.25 }))
    const { id } = await relay.send('what does it cost', { conversation_id: 'cost' })
    const [callback] = await relay.sink.waitForJob(id)
    expect(callback?.body.data.usage).toEqual({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      cost: 0.25,
    })
    expect((await relay.job(id)).usage).toMatchObject({ cost: 0.25 })
    const metrics = await (await fetch(`${relay.url}/metrics`)).text()
    expect(metrics).toContain('llm_relay_llm_cost_total{model="paid/model"} 0.25')
    expect(FAKE_COST).toBeGreaterThan(0)
  })
})

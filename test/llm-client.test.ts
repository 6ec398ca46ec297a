import { afterAll, describe, expect, test } from 'bun:test'
import type { LlmParameters } from '../src/answer/parameters.ts'
import { isOpenRouter } from '../src/llm/chat-completion.ts'
import { completion, FAKE_COST, FakeLlm, jsonAnswer, toolCallsAnswer } from './support/fake-llm.ts'
import { testLlmClient } from './support/llm-client.ts'

const llm = new FakeLlm()
afterAll(() => llm.stop())

const client = (usageAccounting: boolean) => testLlmClient(llm.url, { usageAccounting })

const everyParameter: LlmParameters = {
  temperature: 0.3,
  top_p: 0.8,
  max_tokens: 321,
  stop: ['END', '\n\n'],
  seed: 42,
  reasoning: { effort: 'low' },
  response_format: {
    type: 'json_schema',
    json_schema: {
      name: 'x',
      strict: true,
      schema: { type: 'object', properties: { a: { type: 'number' } } },
    },
  },
  tools: [
    {
      type: 'function',
      function: { name: 'get_order', description: 'd', parameters: { type: 'object' }, strict: false },
    },
  ],
  tool_choice: { type: 'function', function: { name: 'get_order' } },
}

describe('the chat completion request', () => {
  test('each parameter reaches the LLM request unchanged', async () => {
    llm.next(jsonAnswer({ a: 1 }))
    const result = await client(false).complete({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      parameters: everyParameter,
    })
    expect(result.ok).toBe(true)
    const body = llm.calls.at(-1)?.body
    expect(body).toEqual({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...everyParameter })
    expect(body?.usage).toBeUndefined()
  })

  test('a stop given as one string stays one string; reasoning as max_tokens stays so', async () => {
    await client(false).complete({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      parameters: { stop: 'END', reasoning: { max_tokens: 1000 } },
    })
    const body = llm.calls.at(-1)?.body
    expect(body?.stop).toBe('END')
    expect(body?.reasoning).toEqual({ max_tokens: 1000 })
    expect(body?.temperature).toBeUndefined()
  })

  test('a tool exchange is sent in the OpenAI shape: assistant tool_calls, then tool messages', async () => {
    await client(false).complete({
      model: 'm',
      messages: [
        { role: 'user', content: 'where is my order?' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [{ id: 'c1', name: 'get_order', arguments: '{"n":"1"}' }],
        },
        { role: 'tool', toolCallId: 'c1', content: 'shipped' },
      ],
    })
    expect(llm.calls.at(-1)?.body.messages).toEqual([
      { role: 'user', content: 'where is my order?' },
      {
        role: 'assistant',
        content: null as unknown as string,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_order', arguments: '{"n":"1"}' } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'shipped' },
    ])
  })

  test('with usage accounting the request asks for it, and the cost comes back with the tokens', async () => {
    const result = await client(true).complete({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
    expect(llm.calls.at(-1)?.body.usage).toEqual({ include: true })
    expect(result.ok && result.answer.usage).toEqual({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      cost: FAKE_COST,
    })
  })

  test('without a cost in the answer, usage has none', async () => {
    const result = await client(false).complete({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
    expect(result.ok && result.answer.usage).toEqual({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
    })
  })

  test('tool calls come back as calls, with their arguments as the text the API sent', async () => {
    llm.next(toolCallsAnswer([{ id: 'c9', name: 'get_order', arguments: { n: '7' } }]))
    const result = await client(false).complete({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
    expect(result.ok && result.answer).toMatchObject({
      content: '',
      toolCalls: [{ id: 'c9', name: 'get_order', arguments: '{"n":"7"}' }],
    })
  })

  test('reasoning beside the answer stays out of the answer', async () => {
    const result = await client(false).complete({
      model: 'm',
      messages: [{ role: 'user', content: 'think' }],
      parameters: { reasoning: { effort: 'high' } },
    })
    expect(result.ok && result.answer.content).toBe('echo: think')
  })

  test('an answer with neither text nor tool calls is a retryable llm_error', async () => {
    llm.next(() => completion(null))
    const result = await client(false).complete({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
    expect(!result.ok && result.failure).toMatchObject({ code: 'llm_error', retryable: true })
  })
})

test('usage accounting is asked of OpenRouter only', () => {
  expect(isOpenRouter('https://openrouter.ai/api/v1')).toBe(true)
  expect(isOpenRouter('https://eu.openrouter.ai/api/v1')).toBe(true)
  expect(isOpenRouter('https://api.openai.com/v1')).toBe(false)
  expect(isOpenRouter('https://openrouter.ai.evil.example/v1')).toBe(false)
})

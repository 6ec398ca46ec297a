import { describe, expect, test } from 'bun:test'
import type { LlmParameters } from '../src/answer/parameters.ts'
import { checkToolResults, readToolCalls } from '../src/answer/tool-calls.ts'

const llm: LlmParameters = {
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_order',
        parameters: { type: 'object', properties: { number: { type: 'string' } }, required: ['number'] },
      },
    },
    { type: 'function', function: { name: 'now' } },
  ],
}

describe('readToolCalls', () => {
  test('arguments are parsed; a tool without parameters takes empty arguments', () => {
    expect(
      readToolCalls(
        [
          { id: 'c1', name: 'get_order', arguments: '{"number":"A-1"}' },
          { id: 'c2', name: 'now', arguments: '' },
        ],
        llm,
      ),
    ).toEqual({
      ok: true,
      calls: [
        { id: 'c1', name: 'get_order', arguments: { number: 'A-1' } },
        { id: 'c2', name: 'now', arguments: {} },
      ],
    })
  })

  const bad: [string, { id: string; name: string; arguments: string }, string][] = [
    ['an unknown tool', { id: 'c', name: 'delete_all', arguments: '{}' }, 'There is no tool "delete_all"'],
    ['arguments that are not JSON', { id: 'c', name: 'get_order', arguments: '{number:' }, 'not valid JSON'],
    [
      'arguments against the parameters',
      { id: 'c', name: 'get_order', arguments: '{"number":5}' },
      'do not match its parameters: at /number',
    ],
  ]
  for (const [name, call, words] of bad)
    test(`${name} is not delivered, with words the model can act on`, () => {
      const result = readToolCalls([call], llm)
      expect(result.ok).toBe(false)
      if (!result.ok) expect(result.error).toContain(words)
    })
})

describe('checkToolResults', () => {
  const pending = [{ id: 'c1' }, { id: 'c2' }]
  const results = (...ids: string[]) => ({ results: ids.map((id) => ({ tool_call_id: id, content: 'ok' })) })

  test('every call answered once is accepted, in any order', () => {
    expect(checkToolResults(pending, results('c2', 'c1'))).toEqual([])
  })

  test('a call left out, a call answered twice and an unknown id are each named', () => {
    expect(checkToolResults(pending, results('c1'))).toEqual([
      { field: '/results', message: 'must answer c2 too' },
    ])
    expect(checkToolResults(pending, results('c1', 'c1', 'c2')).map((p) => p.field)).toEqual([
      '/results/1/tool_call_id',
    ])
    expect(checkToolResults(pending, results('c1', 'c2', 'c3')).map((p) => p.field)).toEqual([
      '/results/2/tool_call_id',
    ])
  })
})

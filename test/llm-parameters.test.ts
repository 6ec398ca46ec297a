import { describe, expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import { checkLlmParameters, type LlmParameters, LlmParametersSchema } from '../src/answer/parameters.ts'

/** The fields the schema refuses, as JSON pointers into `llm`. */
const refusedFields = (llm: unknown): string[] => [
  ...new Set([...Value.Errors(LlmParametersSchema, llm)].map((e) => e.path)),
]

const tool = (name: string, parameters?: Record<string, unknown>) => ({
  type: 'function' as const,
  function: { name, ...(parameters ? { parameters } : {}) },
})

describe('the llm object: shapes and ranges', () => {
  test('every parameter at its limits is accepted', () => {
    const llm = {
      temperature: 2,
      top_p: 0,
      max_tokens: 200_000,
      stop: ['a', 'b', 'c', 'd'],
      seed: -7,
      reasoning: { effort: 'high' },
      response_format: { type: 'json_object' },
      tools: [tool('get_order', { type: 'object', properties: { n: { type: 'string' } } })],
      tool_choice: { type: 'function', function: { name: 'get_order' } },
    }
    expect(refusedFields(llm)).toEqual([])
    expect(checkLlmParameters(llm as LlmParameters)).toEqual([])
    expect(refusedFields({})).toEqual([])
    expect(refusedFields({ stop: '\n', reasoning: { max_tokens: 1 }, tool_choice: 'auto' })).toEqual([])
  })

  const outOfRange: [string, unknown, string][] = [
    ['temperature above 2', { temperature: 2.01 }, '/temperature'],
    ['a negative temperature', { temperature: -0.1 }, '/temperature'],
    ['temperature as text', { temperature: '1' }, '/temperature'],
    ['top_p above 1', { top_p: 1.5 }, '/top_p'],
    ['max_tokens 0', { max_tokens: 0 }, '/max_tokens'],
    ['max_tokens above 200000', { max_tokens: 200_001 }, '/max_tokens'],
    ['a fractional max_tokens', { max_tokens: 1.5 }, '/max_tokens'],
    ['five stop sequences', { stop: ['a', 'b', 'c', 'd', 'e'] }, '/stop'],
    ['an empty stop sequence', { stop: [''] }, '/stop'],
    ['a fractional seed', { seed: 1.5 }, '/seed'],
    ['an unknown effort', { reasoning: { effort: 'extreme' } }, '/reasoning/effort'],
    ['both effort and max_tokens', { reasoning: { effort: 'low', max_tokens: 10 } }, '/reasoning'],
    ['an empty reasoning', { reasoning: {} }, '/reasoning'],
    ['an unknown response_format type', { response_format: { type: 'yaml' } }, '/response_format/type'],
    ['a tool that is no function', { tools: [{ type: 'code', function: { name: 'x' } }] }, '/tools/0/type'],
    ['a tool name with spaces', { tools: [tool('get order')] }, '/tools/0/function/name'],
    ['an empty tools list', { tools: [] }, '/tools'],
    ['an unknown tool_choice', { tool_choice: 'always' }, '/tool_choice'],
    ['an unknown parameter', { frequency_penalty: 1 }, '/frequency_penalty'],
  ]
  for (const [name, llm, field] of outOfRange)
    test(`${name} is refused at ${field}`, () => {
      expect(refusedFields(llm)).toContain(field)
    })
})

describe('checkLlmParameters: what the schema cannot say', () => {
  const check = (llm: unknown) => checkLlmParameters(llm as LlmParameters).map((p) => p.field)

  test('json_schema needs its json_schema, and only json_schema may have one', () => {
    expect(check({ response_format: { type: 'json_schema' } })).toEqual(['/response_format/json_schema'])
    expect(
      check({ response_format: { type: 'json_object', json_schema: { name: 'x', schema: {} } } }),
    ).toEqual(['/response_format/json_schema'])
  })

  test('an unusable schema is named down to the keyword', () => {
    expect(
      check({
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'x', schema: { properties: { age: { type: 'int' } } } },
        },
      }),
    ).toEqual(['/response_format/json_schema/schema/properties/age/type'])
  })

  test('a tool’s parameters are checked as a schema too', () => {
    expect(check({ tools: [tool('a', { $ref: 'http://example.com/x' })] })).toEqual([
      '/tools/0/function/parameters/$ref',
    ])
  })

  test('tool names are distinct, and tool_choice names one of them and needs tools', () => {
    expect(check({ tools: [tool('a'), tool('a')] })).toEqual(['/tools/1/function/name'])
    expect(check({ tool_choice: 'auto' })).toEqual(['/tool_choice'])
    expect(check({ tools: [tool('a')], tool_choice: { type: 'function', function: { name: 'b' } } })).toEqual(
      ['/tool_choice/function/name'],
    )
  })
})

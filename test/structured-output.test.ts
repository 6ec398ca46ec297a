import { describe, expect, test } from 'bun:test'
import { checkJsonSchema, JSON_SCHEMA_MAX_BYTES } from '../src/answer/json-schema.ts'
import {
  correctionMessages,
  type JsonResponseFormat,
  readStructuredOutput,
} from '../src/answer/structured-output.ts'

const ticket: JsonResponseFormat = {
  type: 'json_schema',
  json_schema: {
    name: 'ticket',
    schema: {
      type: 'object',
      properties: {
        category: { enum: ['billing', 'bug', 'other'] },
        urgent: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' } },
      },
      required: ['category', 'urgent'],
      additionalProperties: false,
    },
  },
}

describe('readStructuredOutput', () => {
  test('an answer valid against the schema is its parsed JSON', () => {
    expect(readStructuredOutput('{"category":"bug","urgent":true}', ticket)).toEqual({
      ok: true,
      output: { category: 'bug', urgent: true },
    })
  })

  test('one Markdown fence around the whole answer is unwrapped', () => {
    const fenced = '```json\n{"category":"other","urgent":false}\n```'
    expect(readStructuredOutput(fenced, ticket)).toEqual({
      ok: true,
      output: { category: 'other', urgent: false },
    })
  })

  test('text around the JSON is not JSON', () => {
    const result = readStructuredOutput('Here you go: {"category":"bug","urgent":true}', ticket)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.error).toStartWith('The answer is not valid JSON')
  })

  test('an answer against the schema names each place it fails, leaves only', () => {
    const result = readStructuredOutput('{"category":"sales","urgent":"yes","tags":[1]}', ticket)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.error).toStartWith('The answer does not match the schema "ticket": ')
    expect(result.error).toContain('at /category')
    expect(result.error).toContain('at /urgent')
    expect(result.error).toContain('at /tags/0')
    expect(result.error).not.toContain('subschema')
  })

  test('a missing required property and an extra one are named', () => {
    const result = readStructuredOutput('{"category":"bug","extra":1}', ticket)
    expect(result.ok).toBe(false)
    if (!result.ok) {
      expect(result.error).toContain('urgent')
      expect(result.error).toContain('extra')
    }
  })

  test('json_object wants an object, not any JSON', () => {
    expect(readStructuredOutput('{"a":1}', { type: 'json_object' })).toEqual({ ok: true, output: { a: 1 } })
    for (const text of ['[1,2]', '"text"', '42', 'null']) {
      const result = readStructuredOutput(text, { type: 'json_object' })
      expect({ text, ok: result.ok }).toEqual({ text, ok: false })
    }
  })

  test('the schema it was given is left as it was (the validator writes into its own copy)', () => {
    const before = JSON.stringify(ticket)
    readStructuredOutput('{"category":"bug","urgent":true}', ticket)
    expect(JSON.stringify(ticket)).toBe(before)
  })

  test('local $ref and $defs are followed', () => {
    const format: JsonResponseFormat = {
      type: 'json_schema',
      json_schema: {
        name: 'tree',
        schema: {
          $defs: {
            node: {
              type: 'object',
              properties: { children: { type: 'array', items: { $ref: '#/$defs/node' } } },
            },
          },
          $ref: '#/$defs/node',
        },
      },
    }
    expect(readStructuredOutput('{"children":[{"children":[]}]}', format).ok).toBe(true)
    expect(readStructuredOutput('{"children":[{"children":3}]}', format).ok).toBe(false)
  })

  test('the correction shows the model its answer, then the problem', () => {
    expect(correctionMessages('{"x":', 'The answer is not valid JSON: …')).toEqual([
      { role: 'assistant', content: '{"x":' },
      { role: 'user', content: expect.stringContaining('The answer is not valid JSON: …') },
    ])
  })
})

describe('checkJsonSchema', () => {
  test('a usable schema has no problems', () => {
    expect(checkJsonSchema(ticket.type === 'json_schema' ? ticket.json_schema.schema : {})).toEqual([])
    expect(checkJsonSchema({})).toEqual([])
    expect(
      checkJsonSchema({
        $schema: 'http://json-schema.org/draft-07/schema#',
        definitions: { a: { type: 'string' } },
        items: [{ $ref: '#/definitions/a' }, true],
        unknownKeyword: { anything: 1 },
      }),
    ).toEqual([])
  })

  const refused: [string, unknown, string][] = [
    ['not an object', [1], ''],
    ['an unknown type', { type: 'strnig' }, '/type'],
    ['a repeated type', { type: ['string', 'string'] }, '/type'],
    ['properties that are not schemas', { properties: { a: 3 } }, '/properties/a'],
    ['required that is not a list of names', { required: 'a' }, '/required'],
    ['a negative minLength', { minLength: -1 }, '/minLength'],
    ['a pattern that is no regular expression', { pattern: '(' }, '/pattern'],
    [
      'a patternProperties key that is no regular expression',
      { patternProperties: { '[': {} } },
      '/patternProperties/[',
    ],
    ['an empty anyOf', { anyOf: [] }, '/anyOf'],
    ['a remote $ref', { $ref: 'https://example.com/schema.json' }, '/$ref'],
    ['a $ref to nowhere', { $ref: '#/$defs/missing' }, '/$ref'],
    [
      'a $ref to a place that is no schema',
      { properties: { a: {} }, items: { $ref: '#/properties' } },
      '/items/$ref',
    ],
    ['a nested $id', { properties: { a: { $id: 'other' } } }, '/properties/a/$id'],
    ['$dynamicRef', { $dynamicRef: '#meta' }, '/$dynamicRef'],
    ['an unknown $schema', { $schema: 'https://example.com/my-draft' }, '/$schema'],
    ['multipleOf 0', { multipleOf: 0 }, '/multipleOf'],
  ]
  for (const [name, schema, path] of refused)
    test(`refuses ${name} (${path || 'the schema'})`, () => {
      expect(checkJsonSchema(schema).map((p) => p.path)).toContain(path)
    })

  test(`refuses a schema over ${JSON_SCHEMA_MAX_BYTES} bytes`, () => {
    const big = { description: 'x'.repeat(JSON_SCHEMA_MAX_BYTES) }
    expect(checkJsonSchema(big)).toEqual([
      { path: '', message: expect.stringContaining('at most 16384 bytes') },
    ])
  })

  test('refuses a schema nested deeper than the validator should recurse', () => {
    let schema: Record<string, unknown> = { type: 'string' }
    for (let i = 0; i < 40; i++) schema = { properties: { a: schema } }
    expect(checkJsonSchema(schema)[0]?.message).toContain('deeper than')
  })

  test('an anchor reference resolves', () => {
    expect(checkJsonSchema({ $defs: { a: { $anchor: 'thing', type: 'string' } }, $ref: '#thing' })).toEqual(
      [],
    )
    expect(checkJsonSchema({ $ref: '#nothing' }).map((p) => p.path)).toEqual(['/$ref'])
  })
})

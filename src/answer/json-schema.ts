import { Validator } from '@cfworker/json-schema'

/**
 * Checks a JSON Schema a client sent (`response_format.json_schema.schema`, a tool's
 * `parameters`) before the job is accepted, so a schema the worker could not use is a 422
 * now, not a failed job later. It reads every keyword the validator acts on and refuses
 * what would make the validator throw or reach outside the schema: a `$ref` that does not
 * resolve inside it, a nested `$id`, `$dynamicRef`. Unknown keywords are annotations, as
 * the specification says, and pass.
 */

export const JSON_SCHEMA_MAX_BYTES = 16 * 1024
/** Deeper schemas are refused: the validator recurses once per level. */
const MAX_DEPTH = 32

export type SchemaDraft = '4' | '7' | '2019-09' | '2020-12'

const DRAFTS: Record<string, SchemaDraft> = {
  'https://json-schema.org/draft/2020-12/schema': '2020-12',
  'https://json-schema.org/draft/2019-09/schema': '2019-09',
  'http://json-schema.org/draft-07/schema': '7',
  'http://json-schema.org/draft-04/schema': '4',
}

/** The draft a schema declares with `$schema`; 2020-12 when it declares none. */
export function draftOf(schema: unknown): SchemaDraft | undefined {
  const declared = (schema as { $schema?: unknown } | null)?.$schema
  if (declared === undefined) return '2020-12'
  if (typeof declared !== 'string') return undefined
  return DRAFTS[
    declared
      .replace(/#$/, '')
      .replace(/^https:\/\/json-schema\.org\/draft-0/, 'http://json-schema.org/draft-0')
  ]
}

export interface SchemaProblem {
  /** A JSON pointer into the schema ('' for the schema itself). */
  path: string
  message: string
}

const TYPES = new Set(['array', 'boolean', 'integer', 'null', 'number', 'object', 'string'])
const ONE_SCHEMA = [
  'additionalItems',
  'additionalProperties',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contains',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
]
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems']
const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']
const COUNTS = [
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'minContains',
  'maxContains',
]
const NUMBERS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']
const TEXTS = ['title', 'description', '$comment', 'format', '$anchor']
const UNSUPPORTED = ['$dynamicRef', '$dynamicAnchor', '$recursiveRef']

const escapePointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1')
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const compiles = (pattern: string): boolean => {
  try {
    new RegExp(pattern, 'u')
    return true
  } catch {
    return false
  }
}

class SchemaWalk {
  readonly problems: SchemaProblem[] = []
  readonly positions = new Set<string>()
  readonly anchors = new Set<string>()
  readonly refs: { path: string; ref: string }[] = []

  constructor(private readonly draft: SchemaDraft) {}

  fail(path: string, message: string) {
    if (this.problems.length < 20) this.problems.push({ path, message })
  }

  schema(value: unknown, path: string, depth: number) {
    if (typeof value === 'boolean') {
      this.positions.add(path)
      return
    }
    if (!isObject(value)) return this.fail(path, 'must be a JSON Schema (an object or a boolean)')
    if (depth > MAX_DEPTH) return this.fail(path, `is nested deeper than ${MAX_DEPTH} levels`)
    this.positions.add(path)
    for (const [key, v] of Object.entries(value))
      this.keyword(key, v, `${path}/${escapePointer(key)}`, depth, path)
  }

  private keyword(key: string, v: unknown, at: string, depth: number, schemaPath: string) {
    if (ONE_SCHEMA.includes(key)) return this.schema(v, at, depth + 1)
    if (SCHEMA_LISTS.includes(key)) return this.list(v, at, depth)
    if (SCHEMA_MAPS.includes(key)) return this.map(key, v, at, depth)
    if (COUNTS.includes(key)) {
      if (!Number.isInteger(v) || (v as number) < 0) this.fail(at, 'must be a whole number ≥ 0')
      return
    }
    if (NUMBERS.includes(key)) {
      const draft4Flag = this.draft === '4' && key.startsWith('exclusive') && typeof v === 'boolean'
      if (typeof v !== 'number' && !draft4Flag) this.fail(at, 'must be a number')
      return
    }
    if (TEXTS.includes(key)) {
      if (typeof v !== 'string') return this.fail(at, 'must be a string')
      if (key === '$anchor') this.anchors.add(v)
      return
    }
    if (UNSUPPORTED.includes(key)) return this.fail(at, `is not supported here; use $ref inside the schema`)
    switch (key) {
      case 'type':
        return this.type(v, at)
      case 'items':
        if (Array.isArray(v) && this.draft !== '2020-12') return this.list(v, at, depth)
        return this.schema(v, at, depth + 1)
      case 'required':
        if (!Array.isArray(v) || v.some((n) => typeof n !== 'string') || new Set(v).size !== v.length)
          this.fail(at, 'must be a list of distinct property names')
        return
      case 'enum':
        if (!Array.isArray(v)) this.fail(at, 'must be a list')
        return
      case 'multipleOf':
        if (typeof v !== 'number' || v <= 0) this.fail(at, 'must be a number > 0')
        return
      case 'uniqueItems':
        if (typeof v !== 'boolean') this.fail(at, 'must be true or false')
        return
      case 'pattern':
        if (typeof v !== 'string' || !compiles(v)) this.fail(at, 'must be a regular expression')
        return
      case 'dependentRequired':
        return this.dependencies(v, at, depth, false)
      case 'dependencies':
        return this.dependencies(v, at, depth, true)
      case '$ref':
        if (typeof v !== 'string') return this.fail(at, 'must be a string')
        this.refs.push({ path: at, ref: v })
        return
      case '$id':
        if (schemaPath !== '') this.fail(at, 'is only supported on the schema itself')
        else if (typeof v !== 'string') this.fail(at, 'must be a string')
        return
    }
  }

  private type(v: unknown, at: string) {
    const names = Array.isArray(v) ? v : [v]
    if (names.length === 0 || names.some((n) => typeof n !== 'string' || !TYPES.has(n)))
      this.fail(at, `must be one of ${[...TYPES].join(', ')}, or a list of them`)
    else if (new Set(names).size !== names.length) this.fail(at, 'must not name a type twice')
  }

  private list(v: unknown, at: string, depth: number) {
    if (!Array.isArray(v) || v.length === 0) return this.fail(at, 'must be a non-empty list of schemas')
    v.forEach((item, i) => {
      this.schema(item, `${at}/${i}`, depth + 1)
    })
  }

  private map(key: string, v: unknown, at: string, depth: number) {
    if (!isObject(v)) return this.fail(at, 'must be an object of schemas')
    for (const [name, item] of Object.entries(v)) {
      if (key === 'patternProperties' && !compiles(name))
        this.fail(`${at}/${escapePointer(name)}`, 'names a pattern that is not a regular expression')
      this.schema(item, `${at}/${escapePointer(name)}`, depth + 1)
    }
  }

  private dependencies(v: unknown, at: string, depth: number, schemasToo: boolean) {
    if (!isObject(v)) return this.fail(at, 'must be an object')
    for (const [name, item] of Object.entries(v)) {
      const where = `${at}/${escapePointer(name)}`
      if (Array.isArray(item)) {
        if (item.some((n) => typeof n !== 'string')) this.fail(where, 'must be a list of property names')
      } else if (schemasToo) this.schema(item, where, depth + 1)
      else this.fail(where, 'must be a list of property names')
    }
  }

  /** `#`, `#/json/pointer` or `#anchor`: the places a reference may point to. */
  resolves(ref: string): boolean {
    if (!ref.startsWith('#')) return false
    const fragment = ref.slice(1)
    if (fragment === '' || fragment.startsWith('/')) {
      let pointer: string
      try {
        pointer = decodeURIComponent(fragment)
      } catch {
        return false
      }
      return this.positions.has(pointer)
    }
    return this.anchors.has(fragment)
  }
}

/**
 * Every problem that makes `schema` unusable for validating an answer, at most 20; none
 * when it is usable.
 */
export function checkJsonSchema(schema: unknown): SchemaProblem[] {
  if (!isObject(schema)) return [{ path: '', message: 'must be a JSON Schema object' }]
  const bytes = Buffer.byteLength(JSON.stringify(schema))
  if (bytes > JSON_SCHEMA_MAX_BYTES)
    return [{ path: '', message: `must be at most ${JSON_SCHEMA_MAX_BYTES} bytes as JSON, is ${bytes}` }]
  const draft = draftOf(schema)
  if (draft === undefined)
    return [{ path: '/$schema', message: `must name draft 2020-12, 2019-09, 07 or 04 (or be left out)` }]
  const walk = new SchemaWalk(draft)
  walk.schema(schema, '', 0)
  for (const { path, ref } of walk.refs)
    if (!walk.resolves(ref)) walk.fail(path, 'must point inside this schema (#, #/… or #anchor) at a schema')
  if (walk.problems.length > 0) return walk.problems
  try {
    // The validator writes its bookkeeping into the schema it is given: give it a copy.
    new Validator(structuredClone(schema), draft).validate(null)
  } catch (error) {
    return [{ path: '', message: `cannot be used: ${(error as Error).message.split('\n')[0]}` }]
  }
  return []
}

/**
 * JSON Schema as OpenAPI 3.1 reads it, from what Elysia's generator writes: Elysia's
 * `t.Integer` (which also accepts a numeric string) becomes the integer it sends, `nullable`
 * (not 3.1) becomes a type list with "null", and a union of string constants an `enum`.
 */
type Schema = Record<string, unknown>

const isObject = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** `anyOf: [{type: string, format: integer}, {type: integer, …}]`: the integer branch. */
function integerBranch(schema: Schema): Schema | undefined {
  const branches = schema.anyOf
  if (!Array.isArray(branches) || branches.length !== 2) return undefined
  const [text, integer] = branches as unknown[]
  if (!isObject(text) || !isObject(integer)) return undefined
  if (text.type !== 'string' || text.format !== 'integer' || integer.type !== 'integer') return undefined
  return integer
}

function withNull(schema: Schema): void {
  delete schema.nullable
  const type = schema.type
  if (typeof type === 'string') schema.type = type === 'null' ? type : [type, 'null']
  else if (Array.isArray(type)) {
    if (!type.includes('null')) type.push('null')
  } else if (Array.isArray(schema.anyOf)) {
    if (!schema.anyOf.some((s) => isObject(s) && s.type === 'null')) schema.anyOf.push({ type: 'null' })
  }
}

function stringConstants(schema: Schema): string[] | undefined {
  const branches = schema.anyOf
  if (!Array.isArray(branches) || branches.length === 0) return undefined
  const values: string[] = []
  for (const branch of branches) {
    if (!isObject(branch) || typeof branch.const !== 'string') return undefined
    values.push(branch.const)
  }
  return values
}

/** One schema, fixed in place, with everything inside it. */
export function normalizeSchema(schema: Schema): Schema {
  const integer = integerBranch(schema)
  if (integer) {
    delete schema.anyOf
    Object.assign(
      schema,
      integer,
      schema.description === undefined ? {} : { description: schema.description },
    )
  }
  const constants = stringConstants(schema)
  if (constants) {
    delete schema.anyOf
    schema.type = 'string'
    schema.enum = constants
  }
  if (schema.nullable === true) withNull(schema)
  else delete schema.nullable
  // An enum lists every value allowed: a nullable one (an error code or null) lists null too.
  const nullable = Array.isArray(schema.type) && schema.type.includes('null')
  if (nullable && Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum.push(null)
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'examples' || key === 'example' || key === 'default' || key === 'const' || key === 'enum')
      continue
    if (Array.isArray(value)) for (const item of value) if (isObject(item)) normalizeSchema(item)
    if (isObject(value)) {
      if (key === 'properties' || key === 'patternProperties' || key === '$defs') {
        for (const child of Object.values(value)) if (isObject(child)) normalizeSchema(child)
      } else normalizeSchema(value)
    }
  }
  return schema
}

/** A TypeBox schema as plain JSON (TypeBox keeps its bookkeeping under symbols), normalized. */
export function jsonSchemaOf(schema: unknown): Schema {
  return normalizeSchema(JSON.parse(JSON.stringify(schema)) as Schema)
}

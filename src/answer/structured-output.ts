import { type OutputUnit, Validator } from '@cfworker/json-schema'
import { draftOf } from './json-schema.ts'
import type { LlmParameters } from './parameters.ts'

/** The two formats whose answer is JSON; `text` has no output to read. */
export type JsonResponseFormat =
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema: Record<string, unknown>; strict?: boolean } }

/** The JSON `response_format` a job asks for, if any. */
export function jsonFormatOf(llm: LlmParameters | null): JsonResponseFormat | undefined {
  const format = llm?.response_format
  if (format?.type === 'json_object') return { type: 'json_object' }
  if (format?.type === 'json_schema' && format.json_schema)
    return { type: 'json_schema', json_schema: format.json_schema }
  return undefined
}

export type StructuredOutput = { ok: true; output: unknown } | { ok: false; error: string }

/**
 * Models asked for JSON still wrap it in a Markdown fence now and then (free models that do
 * not honour `response_format` most of all): one fence around the whole answer is unwrapped.
 */
function unfenced(text: string): string {
  const match = /^```[A-Za-z0-9_-]*[ \t]*\r?\n([\s\S]*?)\r?\n?```$/.exec(text.trim())
  return match ? (match[1] as string) : text.trim()
}

/** Leaf errors only: the validator also reports every enclosing keyword ("A subschema had errors"). */
function describeErrors(errors: readonly OutputUnit[]): string {
  const leaves = errors.filter(
    (e) =>
      !/subschema had errors|does not match schema|^Items did not match|^False boolean schema/i.test(e.error),
  )
  const shown = (leaves.length > 0 ? leaves : errors).slice(0, 5)
  const text = shown
    .map((e) => `at ${e.instanceLocation.replace(/^#/, '') || '/'}: ${e.error.replace(/\.$/, '')}`)
    .join('; ')
  const more = leaves.length - shown.length
  return more > 0 ? `${text}; and ${more} more` : text
}

/**
 * Reads an answer given in a JSON `response_format`: the parsed JSON, or why it is not
 * acceptable, in words the model can act on when it is shown them.
 */
export function readStructuredOutput(text: string, format: JsonResponseFormat): StructuredOutput {
  let output: unknown
  try {
    output = JSON.parse(unfenced(text))
  } catch (error) {
    return { ok: false, error: `The answer is not valid JSON: ${(error as Error).message}` }
  }
  if (format.type === 'json_object') {
    if (typeof output !== 'object' || output === null || Array.isArray(output))
      return { ok: false, error: 'The answer must be a JSON object.' }
    return { ok: true, output }
  }
  const { schema } = format.json_schema
  // The validator writes its bookkeeping into the schema it is given: give it a copy.
  const validator = new Validator(structuredClone(schema), draftOf(schema) ?? '2020-12', false)
  let result: ReturnType<Validator['validate']>
  try {
    result = validator.validate(output)
  } catch (error) {
    return { ok: false, error: `The schema could not be applied: ${(error as Error).message.split('\n')[0]}` }
  }
  if (result.valid) return { ok: true, output }
  return {
    ok: false,
    error: `The answer does not match the schema "${format.json_schema.name}": ${describeErrors(result.errors)}`,
  }
}

/**
 * What the model is told on the one retry after an answer that was not acceptable: its own
 * answer, then what was wrong with it.
 */
export function correctionMessages(
  rejected: string,
  error: string,
): { role: 'assistant' | 'user'; content: string }[] {
  return [
    { role: 'assistant', content: rejected },
    {
      role: 'user',
      content: `${error}\nAnswer the previous message again with only the JSON, nothing around it.`,
    },
  ]
}

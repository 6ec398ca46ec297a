import { Validator } from '@cfworker/json-schema'
import { type Static, Type } from '@sinclair/typebox'
import { draftOf } from './json-schema.ts'
import type { LlmParameters } from './parameters.ts'

/**
 * Tools over webhooks: the model's tool calls as the client receives them (`job.tool_calls`,
 * arguments parsed), and the check of the results the client sends back.
 */

/** A tool call as the LLM API sends it: arguments as JSON text. */
export interface RawToolCall {
  id: string
  name: string
  arguments: string
}

export const ToolCallSchema = Type.Object(
  {
    id: Type.String({ description: 'Answer it under this `tool_call_id`.', examples: ['call_1'] }),
    name: Type.String({ description: 'One of the request’s `llm.tools`.', examples: ['get_order'] }),
    arguments: Type.Unknown({
      description: 'The arguments, parsed: valid against the tool’s `parameters` when it has them.',
      examples: [{ number: 'A-1001' }],
    }),
  },
  { description: 'One function the model wants called.' },
)
export type ToolCall = Static<typeof ToolCallSchema>

export const TOOL_RESULT_MAX_CHARS = 32_000

export const ToolResultsSchema = Type.Object(
  {
    results: Type.Array(
      Type.Object(
        {
          tool_call_id: Type.String({ minLength: 1, maxLength: 200, examples: ['call_1'] }),
          content: Type.String({
            maxLength: TOOL_RESULT_MAX_CHARS,
            description: `What the call returned, as text the model reads (often JSON); at most ${TOOL_RESULT_MAX_CHARS} characters.`,
            examples: ['{"status":"shipped","eta":"2026-01-03"}'],
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 128, description: 'One result for every call of the `job.tool_calls` event.' },
    ),
  },
  {
    additionalProperties: false,
    description: 'The results of the tool calls the job is waiting for.',
    examples: [{ results: [{ tool_call_id: 'call_1', content: '{"status":"shipped"}' }] }],
  },
)
export type ToolResults = Static<typeof ToolResultsSchema>

export type ReadToolCalls = { ok: true; calls: ToolCall[] } | { ok: false; error: string }

/**
 * The model's calls with their arguments parsed, or why they cannot be delivered: an
 * unknown tool, arguments that are not JSON or do not match the tool's parameters. Like an
 * answer that misses its schema, that is shown to the model once.
 */
export function readToolCalls(raw: readonly RawToolCall[], llm: LlmParameters): ReadToolCalls {
  const tools = new Map((llm.tools ?? []).map((t) => [t.function.name, t.function]))
  const calls: ToolCall[] = []
  const problems: string[] = []
  for (const call of raw) {
    const tool = tools.get(call.name)
    if (tool === undefined) {
      problems.push(`There is no tool "${call.name}"; the tools are ${[...tools.keys()].join(', ')}.`)
      continue
    }
    let args: unknown
    try {
      args = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments)
    } catch {
      problems.push(`The arguments of ${call.name} are not valid JSON.`)
      continue
    }
    if (tool.parameters !== undefined) {
      const validator = new Validator(structuredClone(tool.parameters), draftOf(tool.parameters) ?? '2020-12')
      const result = validator.validate(args)
      if (!result.valid) {
        const first = result.errors.at(-1)
        problems.push(
          `The arguments of ${call.name} do not match its parameters: at ${first?.instanceLocation.replace(/^#/, '') || '/'}: ${first?.error ?? 'invalid'}`,
        )
        continue
      }
    }
    calls.push({ id: call.id, name: call.name, arguments: args })
  }
  return problems.length > 0 ? { ok: false, error: problems.join(' ') } : { ok: true, calls }
}

export interface ToolResultProblem {
  field: string
  message: string
}

/** Every call answered exactly once, and nothing else. */
export function checkToolResults(
  pending: readonly { id: string }[],
  results: ToolResults,
): ToolResultProblem[] {
  const open = new Set(pending.map((c) => c.id))
  const seen = new Set<string>()
  const problems: ToolResultProblem[] = []
  results.results.forEach((r, i) => {
    const field = `/results/${i}/tool_call_id`
    if (seen.has(r.tool_call_id)) problems.push({ field, message: 'answers a call already answered above' })
    else if (!open.has(r.tool_call_id))
      problems.push({ field, message: 'names no call this job is waiting for' })
    seen.add(r.tool_call_id)
  })
  const missing = [...open].filter((id) => !seen.has(id))
  if (missing.length > 0)
    problems.push({ field: '/results', message: `must answer ${missing.join(', ')} too` })
  return problems
}

import { type Static, Type } from '@sinclair/typebox'
import { checkJsonSchema, JSON_SCHEMA_MAX_BYTES } from './json-schema.ts'

/**
 * The `llm` object of `POST /webhook`: per-request parameters of the chat completion, in
 * the OpenAI shapes (OpenRouter's for `reasoning`). Stored with the job and sent unchanged
 * on every attempt. The schema checks each field's shape and range; `checkLlmParameters`
 * checks what a schema cannot (the JSON Schemas inside, names that must match).
 */

export const MAX_TOKENS_LIMIT = 200_000
export const STOP_SEQUENCES_MAX = 4
export const TOOLS_MAX = 128
const NAME_PATTERN = '^[A-Za-z0-9_-]{1,64}$'
const NAME_ERROR = 'must be 1 to 64 characters of A-Z a-z 0-9 _ -'

const JsonSchemaObject = (description: string) =>
  Type.Record(Type.String(), Type.Unknown(), {
    description: `${description} A JSON Schema (draft 2020-12 unless \`$schema\` names 2019-09, 07 or 04), at most ${JSON_SCHEMA_MAX_BYTES} bytes; \`$ref\` must point inside it.`,
  })

const ResponseFormat = Type.Object(
  {
    type: Type.Union([Type.Literal('text'), Type.Literal('json_object'), Type.Literal('json_schema')], {
      'x-error': 'must be text, json_object or json_schema',
      description:
        '`text`: free text (the default) · `json_object`: the answer is a JSON object · `json_schema`: the answer is JSON valid against `json_schema.schema`.',
    }),
    json_schema: Type.Optional(
      Type.Object(
        {
          name: Type.String({ pattern: NAME_PATTERN, 'x-error': NAME_ERROR, examples: ['ticket'] }),
          description: Type.Optional(Type.String({ maxLength: 1024 })),
          schema: JsonSchemaObject('What the answer must match.'),
          strict: Type.Optional(
            Type.Boolean({
              description: 'Passed to the model (OpenAI strict mode); the relay validates either way.',
            }),
          ),
        },
        { additionalProperties: false, description: 'Required with `type: json_schema`, refused otherwise.' },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Ask for JSON. The answer is parsed (and, for `json_schema`, validated); the job and callback carry it as `output` beside `response`. An answer that is not acceptable is tried once more with the problem shown to the model, then the job fails with `llm_invalid_output`.',
    examples: [
      {
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
      },
    ],
  },
)

const FunctionTool = Type.Object(
  {
    type: Type.Literal('function', { 'x-error': 'must be function' }),
    function: Type.Object(
      {
        name: Type.String({ pattern: NAME_PATTERN, 'x-error': NAME_ERROR, examples: ['get_order'] }),
        description: Type.Optional(Type.String({ maxLength: 4096 })),
        parameters: Type.Optional(JsonSchemaObject('The arguments the function takes.')),
        strict: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

const ToolChoice = Type.Union(
  [
    Type.Union([Type.Literal('none'), Type.Literal('auto'), Type.Literal('required')]),
    Type.Object(
      {
        type: Type.Literal('function'),
        function: Type.Object(
          { name: Type.String({ pattern: NAME_PATTERN }) },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
  ],
  {
    'x-error': 'must be none, auto, required or {type: function, function: {name}} naming one of `tools`',
    description: 'Whether and which tool the model must call; needs `tools`.',
    examples: ['auto', { type: 'function', function: { name: 'get_order' } }],
  },
)

const Reasoning = Type.Object(
  {
    effort: Type.Optional(
      Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')], {
        'x-error': 'must be low, medium or high',
      }),
    ),
    max_tokens: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_TOKENS_LIMIT, 'x-error': `must be 1 to ${MAX_TOKENS_LIMIT}` }),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    'x-error': 'must be {effort: low|medium|high} or {max_tokens: n}, one of the two',
    description: 'How much the model may think first: sent as OpenRouter’s `reasoning` parameter.',
    examples: [{ effort: 'low' }, { max_tokens: 2000 }],
  },
)

export const LlmParametersSchema = Type.Object(
  {
    temperature: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 2,
        'x-error': 'must be a number from 0 to 2',
        description: 'Sampling temperature, 0 to 2 (overrides `LLM_TEMPERATURE`).',
        examples: [0.2],
      }),
    ),
    top_p: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, 'x-error': 'must be a number from 0 to 1', examples: [0.9] }),
    ),
    max_tokens: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_TOKENS_LIMIT,
        'x-error': `must be a whole number from 1 to ${MAX_TOKENS_LIMIT}`,
        description: 'Longest answer in tokens (overrides `LLM_MAX_TOKENS`).',
        examples: [500],
      }),
    ),
    stop: Type.Optional(
      Type.Union(
        [
          Type.String({ minLength: 1, maxLength: 256 }),
          Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
            minItems: 1,
            maxItems: STOP_SEQUENCES_MAX,
          }),
        ],
        {
          'x-error': `must be a string or a list of 1 to ${STOP_SEQUENCES_MAX} strings, each 1 to 256 characters`,
          description: `Up to ${STOP_SEQUENCES_MAX} sequences where the model stops.`,
          examples: [['\n\n']],
        },
      ),
    ),
    seed: Type.Optional(
      Type.Integer({
        minimum: Number.MIN_SAFE_INTEGER,
        maximum: Number.MAX_SAFE_INTEGER,
        'x-error': 'must be a whole number',
        description: 'Asks for repeatable sampling where the model supports it.',
        examples: [42],
      }),
    ),
    reasoning: Type.Optional(Reasoning),
    response_format: Type.Optional(ResponseFormat),
    tools: Type.Optional(
      Type.Array(FunctionTool, {
        minItems: 1,
        maxItems: TOOLS_MAX,
        description:
          'Functions the model may call. A call is delivered to the callback as `job.tool_calls`; answer it with `POST /jobs/{id}/tool_results`.',
        examples: [
          [
            {
              type: 'function',
              function: {
                name: 'get_order',
                description: 'Looks an order up by its number.',
                parameters: {
                  type: 'object',
                  properties: { number: { type: 'string' } },
                  required: ['number'],
                },
              },
            },
          ],
        ],
      }),
    ),
    tool_choice: Type.Optional(ToolChoice),
  },
  {
    additionalProperties: false,
    description:
      'Parameters of this message’s LLM call (OpenAI shapes). Left out, the provider’s defaults apply, or `LLM_TEMPERATURE` and `LLM_MAX_TOKENS` where set.',
    examples: [{ temperature: 0.2, max_tokens: 500, reasoning: { effort: 'low' } }],
  },
)
export type LlmParameters = Static<typeof LlmParametersSchema>

export interface ParameterProblem {
  /** A JSON pointer into the `llm` object. */
  field: string
  message: string
}

/** What the schema cannot say: the JSON Schemas inside, and names that must match each other. */
export function checkLlmParameters(llm: LlmParameters): ParameterProblem[] {
  const problems: ParameterProblem[] = []
  const format = llm.response_format
  if (format?.type === 'json_schema' && format.json_schema === undefined)
    problems.push({ field: '/response_format/json_schema', message: 'is required with type json_schema' })
  if (format !== undefined && format.type !== 'json_schema' && format.json_schema !== undefined)
    problems.push({ field: '/response_format/json_schema', message: 'is only allowed with type json_schema' })
  if (format?.json_schema !== undefined)
    for (const p of checkJsonSchema(format.json_schema.schema))
      problems.push({ field: `/response_format/json_schema/schema${p.path}`, message: p.message })
  const names = new Set<string>()
  llm.tools?.forEach((tool, i) => {
    if (names.has(tool.function.name))
      problems.push({ field: `/tools/${i}/function/name`, message: 'names a tool already listed' })
    names.add(tool.function.name)
    if (tool.function.parameters !== undefined)
      for (const p of checkJsonSchema(tool.function.parameters))
        problems.push({ field: `/tools/${i}/function/parameters${p.path}`, message: p.message })
  })
  const choice = llm.tool_choice
  if (choice !== undefined && llm.tools === undefined)
    problems.push({ field: '/tool_choice', message: 'needs tools' })
  else if (typeof choice === 'object' && !names.has(choice.function.name))
    problems.push({ field: '/tool_choice/function/name', message: 'must name one of tools' })
  return problems
}

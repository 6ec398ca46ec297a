/**
 * What the jobs API and the callbacks both carry, as TypeBox schemas: one definition for
 * validation, the TypeScript types and the OpenAPI document. Plain TypeBox, not Elysia's `t`:
 * these describe JSON as sent, so an integer is an integer (Elysia's also accepts a string).
 */
import { Kind, type TSchema, Type, TypeRegistry } from '@sinclair/typebox'
import { ERROR_CODES, type ErrorCode } from '../job.ts'

/** A value or JSON `null`: `{"type": [..., "null"]}` in OpenAPI 3.1, never `nullable`. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** An ISO 8601 time in UTC, as `Date.prototype.toISOString` writes it. */
export const Timestamp = (description?: string) =>
  Type.String({
    format: 'date-time',
    examples: ['2026-01-01T12:00:00.000Z'],
    ...(description === undefined ? {} : { description }),
  })

// A string out of a closed set, written as `{"type": "string", "enum": […]}`: a TypeBox union
// of literals would be `anyOf` of constants, and Elysia's generator drops the description of those.
TypeRegistry.Set<{ enum: string[] }>(
  'StringEnum',
  (schema, value) => typeof value === 'string' && schema.enum.includes(value),
)
export const StringEnum = <T extends string>(values: readonly T[], options: { description?: string } = {}) =>
  Type.Unsafe<T>({ [Kind]: 'StringEnum', type: 'string', enum: [...values], ...options })

export const ErrorCodeSchema = StringEnum(Object.keys(ERROR_CODES) as ErrorCode[], {
  description: Object.entries(ERROR_CODES)
    .map(([code, text]) => `\`${code}\`: ${text}`)
    .join('\n'),
})

export const JobErrorSchema = Type.Object(
  {
    code: ErrorCodeSchema,
    message: Type.String({ description: 'A readable explanation.' }),
  },
  { description: 'Why the job failed, or why the last attempt failed.' },
)

export const UsageSchema = Type.Object(
  {
    prompt_tokens: Type.Integer(),
    completion_tokens: Type.Integer(),
    total_tokens: Type.Integer(),
    cost: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          'What the call cost in credits (OpenRouter’s usage accounting); other providers leave it out.',
        examples: [0.00042],
      }),
    ),
  },
  { description: 'Token counts as the LLM API reported them.' },
)

import type { TSchema } from '@sinclair/typebox'
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors'
import { Value } from '@sinclair/typebox/value'
import type { ValidationError } from 'elysia'
import type { FieldError, InputPart } from './problem.ts'

// TypeBox's own messages ("Expected string length greater or equal to 1", a raw regex for a
// pattern) are written for developers of the schema; these are written for the caller. Every
// validation failure, wherever it is found, reads in this one voice.

type Schema = TSchema & {
  'x-error'?: string
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  minItems?: number
  maxItems?: number
  format?: string
  const?: unknown
  anyOf?: Schema[]
}

function lengthRule(schema: Schema): string {
  const { minLength: min, maxLength: max } = schema
  if (min !== undefined && max !== undefined) return `must be ${min} to ${max} characters`
  if (max !== undefined) return `must be at most ${max} characters`
  return min === 1 ? 'must not be empty' : `must be at least ${min} characters`
}

function rangeRule(schema: Schema): string {
  const { minimum: min, maximum: max } = schema
  if (min !== undefined && max !== undefined) return `must be from ${min} to ${max}`
  return max !== undefined ? `must be at most ${max}` : `must be at least ${min}`
}

const literal = (value: unknown): string => (typeof value === 'string' ? `"${value}"` : String(value))

/** The caller's words for one TypeBox error; the schema's `x-error` when it has one. */
export function messageFor(error: ValueError): string {
  const schema = error.schema as Schema
  if (schema['x-error']) return schema['x-error']
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required'
    case ValueErrorType.ObjectAdditionalProperties:
      return 'is not a known field'
    case ValueErrorType.String:
      return 'must be a string'
    case ValueErrorType.Number:
      return 'must be a number'
    case ValueErrorType.Integer:
      return 'must be a whole number'
    case ValueErrorType.Boolean:
      return 'must be true or false'
    case ValueErrorType.Object:
      return 'must be a JSON object'
    case ValueErrorType.Array:
      return 'must be an array'
    case ValueErrorType.Null:
      return 'must be null'
    case ValueErrorType.StringMinLength:
    case ValueErrorType.StringMaxLength:
      return lengthRule(schema)
    case ValueErrorType.StringPattern:
      return 'contains characters or a form that is not accepted'
    case ValueErrorType.StringFormat:
    case ValueErrorType.StringFormatUnknown:
      return `must be a valid ${schema.format ?? 'value'}`
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.IntegerMaximum:
      return rangeRule(schema)
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${schema.minItems} items`
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${schema.maxItems} items`
    case ValueErrorType.Literal:
      return `must be ${literal(schema.const)}`
    case ValueErrorType.Union: {
      const options = schema.anyOf ?? []
      return options.length > 0 && options.every((o) => 'const' in o)
        ? `must be one of ${options.map((o) => literal(o.const)).join(', ')}`
        : 'is not any of the accepted kinds of value'
    }
    default:
      return 'is not valid'
  }
}

/**
 * A body field is named as a JSON pointer (`/model`, `/` for the whole body); a path or query
 * parameter or a header by its name (`id`).
 */
function fieldName(part: InputPart, path: string): string {
  if (part === 'body') return path === '' ? '/' : path
  return path === '' ? part : path.slice(1).replaceAll('/', '.')
}

type Validator = { Errors?: (value: unknown) => Iterable<ValueError>; schema?: TSchema }

/** The validator's own errors, read directly: Elysia's `all` builds its summaries as well. */
function valueErrors(error: ValidationError): Iterable<ValueError> {
  const validator = error.validator as Validator
  if (typeof validator?.Errors === 'function') return validator.Errors(error.value)
  return Value.Errors((validator?.schema ?? validator) as TSchema, error.value)
}

const MAX_FIELD_ERRORS = 32

/** Each failing field once, with the first reason found for it. */
export function fieldErrors(part: InputPart, error: ValidationError): FieldError[] {
  const out: FieldError[] = []
  const named = new Set<string>()
  for (const e of valueErrors(error)) {
    const field = fieldName(part, e.path)
    if (named.has(field)) continue
    named.add(field)
    out.push({ field, message: messageFor(e) })
    if (out.length >= MAX_FIELD_ERRORS) break
  }
  return out
}

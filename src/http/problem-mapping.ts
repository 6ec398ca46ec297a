import { Elysia, ValidationError } from 'elysia'
import type { Logger } from '../log.ts'
import type { AllowedMethods } from './allowed-methods.ts'
import {
  type InputPart,
  invalidInput,
  methodNotAllowed,
  noSuchRoute,
  Problem,
  problemResponse,
  storeUnavailable,
  unexpectedFailure,
} from './problem.ts'
import { pathOf, type RequestInfos } from './request-info.ts'
import { isStoreFault } from './store-fault.ts'
import { fieldErrors } from './validation-messages.ts'

/**
 * What a failure is worth in the log: an expected refusal (bad input, no key, draining) is
 * already on the request line; a database fault is a warning (the dependency, not the relay);
 * only the unexpected is an error.
 */
type Severity = 'none' | 'warn' | 'error'

const INPUT_PARTS = new Set<string>(['body', 'params', 'query', 'headers', 'cookie'])

/** Every failure as the problem it answers and how loudly it is logged. */
export function classify(
  code: string | number,
  error: unknown,
  path: string,
  method: string,
  allowed: AllowedMethods,
): { problem: Problem; severity: Severity } {
  if (error instanceof Problem) return { problem: error, severity: 'none' }
  // A Problem thrown by our body reader arrives wrapped in Elysia's ParseError.
  if (error instanceof Error && error.cause instanceof Problem)
    return { problem: error.cause, severity: 'none' }
  if (code === 'VALIDATION' && error instanceof ValidationError && INPUT_PARTS.has(error.type)) {
    const part = error.type as InputPart
    return { problem: invalidInput(part, fieldErrors(part, error)), severity: 'none' }
  }
  // Elysia's coercing types (a number in the query, e.g. GET /jobs?limit=0) check the value
  // they decoded on their own and report it as `property`: still the caller's query.
  if (code === 'VALIDATION' && error instanceof ValidationError && error.type === 'property')
    return { problem: invalidInput('query', fieldErrors('query', error)), severity: 'none' }
  if (code === 'PARSE')
    return { problem: new Problem(400, 'The body could not be parsed.'), severity: 'none' }
  if (code === 'NOT_FOUND') {
    const methods = allowed.at(path)
    const problem =
      methods.length > 0 && !methods.includes(method) ? methodNotAllowed(methods) : noSuchRoute()
    return { problem, severity: 'none' }
  }
  if (isStoreFault(error)) return { problem: storeUnavailable(), severity: 'warn' }
  return { problem: unexpectedFailure(), severity: 'error' }
}

const describe = (error: unknown) =>
  error instanceof Error ? { type: error.name, message: error.message } : { message: String(error) }

export interface ProblemMappingDeps {
  logger: Logger
  infos: RequestInfos
  allowed: AllowedMethods
}

/** Every error leaves as RFC 9457 problem+json; nothing internal leaks into it. */
export function problemMapping(deps: ProblemMappingDeps) {
  return new Elysia().onError({ as: 'global' }, ({ code, error, request, set }) => {
    const path = pathOf(request.url)
    const { problem, severity } = classify(code, error, path, request.method, deps.allowed)
    const id = deps.infos.of(request)?.id
    if (severity === 'error') deps.logger.error({ err: error, path, request_id: id }, 'request failed')
    else if (severity === 'warn')
      deps.logger.warn(
        { error: describe(error), path, request_id: id },
        'the database is unavailable: request refused with 503',
      )
    // For the access log and metrics, which read the status from here.
    set.status = problem.status
    const response = problemResponse(problem, path)
    if (id) response.headers.set('x-request-id', id)
    return response
  })
}

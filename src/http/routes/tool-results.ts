import { Elysia, t } from 'elysia'
import { checkToolResults, type ToolResults, ToolResultsSchema } from '../../answer/tool-calls.ts'
import { answeredBefore, pendingCalls } from '../../answer/tool-rounds.ts'
import type { Clock } from '../../clock.ts'
import type { Job, Store } from '../../store/store.ts'
import { ownerForJob } from '../job-owner.ts'
import { conflict, type FieldError, invalidInput, notFound, problems } from '../problem.ts'
import { readJsonBody } from '../request-body.ts'
import { ToolResultsAccepted } from '../schemas.ts'

export interface ToolResultsDeps {
  store: Store
  wake: () => void
  clock: Clock
  /** Whose jobs the request may see (as for GET /jobs/{id}); undefined for every owner's. */
  visibleOwner: (request: Request) => string | undefined
  maxBodyBytes: number
}

const JobParams = t.Object({
  id: t.String({
    maxLength: 64,
    'x-error': 'must be a job id (at most 64 characters)',
    description: 'Job id.',
  }),
})

/**
 * Strings that are not strings, named before the schema sees them (as POST /webhook does):
 * a validation message must never have to print a value that cannot be printed.
 */
function checkResultTypes(body: unknown): unknown {
  const results = (body as { results?: unknown } | null)?.results
  if (!Array.isArray(results)) return body
  const errors: FieldError[] = []
  for (const [i, r] of results.entries()) {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) {
      errors.push({ field: `/results/${i}`, message: 'must be a JSON object' })
      continue
    }
    for (const name of ['tool_call_id', 'content']) {
      const value = (r as Record<string, unknown>)[name]
      if (value !== undefined && typeof value !== 'string')
        errors.push({ field: `/results/${i}/${name}`, message: 'must be a string' })
    }
  }
  if (errors.length > 0) throw invalidInput('body', errors)
  return body
}

/** Why results for a job that did not take them were refused: sent again, or not awaited at all. */
function refusal(job: Job, body: ToolResults) {
  if (answeredBefore(job.toolRounds, body.results))
    return conflict(`These tool results were submitted already; job ${job.id} is ${job.status} now.`)
  if (job.status !== 'awaiting_tool_results')
    return conflict(`Job ${job.id} is not waiting for tool results; it is ${job.status}.`)
  const errors = checkToolResults(pendingCalls(job.toolRounds), body)
  return errors.length > 0
    ? invalidInput('body', errors)
    : conflict(`Job ${job.id} is not waiting for these tool results.`)
}

export function toolResultsRoutes(deps: ToolResultsDeps) {
  return new Elysia({ name: 'tool-results' }).post(
    '/jobs/:id/tool_results',
    async ({ params, body, request, status }) => {
      const owner = await ownerForJob(deps.store, deps.visibleOwner(request), params.id)
      const result = await deps.store.submitToolResults(params.id, owner, body.results, deps.clock.now())
      if (result.kind === 'not_found') throw notFound(`No job ${params.id}.`)
      if (result.kind !== 'queued') throw refusal(result.job, body)
      deps.wake()
      return status(202, { id: result.job.id, status: result.job.status })
    },
    {
      // Our reader answers first (415/413/400), as for POST /webhook; 'json' names the content type.
      parse: [
        async ({ request }) => checkResultTypes(await readJsonBody(request, deps.maxBodyBytes)),
        'json',
      ],
      params: JobParams,
      body: ToolResultsSchema,
      response: { 202: ToolResultsAccepted, ...problems(400, 404, 409, 413, 415, 422) },
      detail: {
        tags: ['Jobs'],
        summary: 'Answer the tool calls a job waits for',
        description:
          'For a job that is `awaiting_tool_results` (its `job.tool_calls` event, or `GET /jobs/{id}`, lists the calls): one result per call, each call answered exactly once. The results are stored with the calls and the job is queued again; the model then sees its calls and these results, and answers (`job.completed`) or calls tools again (another `job.tool_calls`). A call left out, answered twice or unknown is a 422 naming it; results sent again, or to a job that waits for none, a 409.',
      },
    },
  )
}

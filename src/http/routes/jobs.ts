import { Elysia, t } from 'elysia'
import type { Clock } from '../../clock.ts'
import type { CancellableStatus, Job, Store } from '../../store/store.ts'
import { ownerForJob } from '../job-owner.ts'
import { jobView } from '../job-view.ts'
import { conflict, notFound, problems } from '../problem.ts'
import { CancelledJobView, JobView, RedeliverAccepted } from '../schemas.ts'

export interface JobsDeps {
  store: Store
  wake: () => void
  clock: Clock
  /** Whose jobs the request may see; undefined for every owner's. */
  visibleOwner: (request: Request) => string | undefined
  /** A job was cancelled by this request: stop a run of it here, count it, wake the next in line. */
  onCancelled: (job: Job, from: CancellableStatus) => void
}

const JobParams = t.Object({
  id: t.String({
    maxLength: 64,
    'x-error': 'must be a job id (at most 64 characters)',
    description: 'Job id.',
  }),
})

export function jobRoutes(deps: JobsDeps) {
  const ownerOf = (request: Request, id: string) => ownerForJob(deps.store, deps.visibleOwner(request), id)
  const find = async (id: string, request: Request): Promise<Job> => {
    const job = await deps.store.getJob(id, await ownerOf(request, id), deps.clock.now())
    if (!job) throw notFound(`No job ${id}.`)
    return job
  }
  return new Elysia({ name: 'jobs' })
    .get(
      '/jobs/:id',
      async ({ params, request }) => {
        const job = await find(params.id, request)
        const deliveries = await deps.store.listDeliveryAttempts(job.id)
        return jobView(job, deliveries)
      },
      {
        params: JobParams,
        response: { 200: JobView, ...problems(404) },
        detail: {
          tags: ['Jobs'],
          summary: 'Read a job',
          description: 'Status, answer or error, and every callback attempt.',
        },
      },
    )
    .post(
      '/jobs/:id/cancel',
      async ({ params, request }) => {
        const owner = await ownerOf(request, params.id)
        const result = await deps.store.cancelJob(params.id, owner, deps.clock.now())
        if (result.kind === 'not_found') throw notFound(`No job ${params.id}.`)
        if (result.kind === 'finished')
          throw conflict(`The job is ${result.job.status} already; there is nothing left to cancel.`)
        if (result.kind === 'cancelled') deps.onCancelled(result.job, result.from)
        const job = await find(params.id, request)
        return jobView(job, await deps.store.listDeliveryAttempts(job.id))
      },
      {
        params: JobParams,
        response: { 200: CancelledJobView, ...problems(404, 409) },
        detail: {
          tags: ['Jobs'],
          summary: 'Cancel a job',
          description:
            'Stops a job that is not finished; it ends as `cancelled`, and nothing of it joins the conversation’s history. A `queued` job is cancelled at once, whether it waits for its conversation’s turn or not. A `processing` job has its LLM call aborted by the instance running it (within a second, also in a fleet); an answer that arrives anyway is dropped. An `awaiting_tool_results` job takes no results any more (they get a 409). A `delivering` job gets no further callback attempts; one already in flight may still reach the receiver, but its outcome is not recorded, and the answer stays in history. No callback is sent for a cancelled job, and the conversation’s next message goes on. Cancelling a `cancelled` job again answers 200 with the job; a `delivered` or `dead` job answers 409.',
        },
      },
    )
    .post(
      '/jobs/:id/redeliver',
      async ({ params, request, status }) => {
        const owner = await ownerOf(request, params.id)
        const result = await deps.store.redeliver(params.id, owner, deps.clock.now())
        if (result === 'not_found') throw notFound(`No job ${params.id}.`)
        if (result === 'not_finished')
          throw conflict(
            'Only a delivered or dead job can be redelivered; this one is still in progress or was cancelled.',
          )
        deps.wake()
        return status(202, { id: params.id, status: 'delivering' as const })
      },
      {
        params: JobParams,
        response: { 202: RedeliverAccepted, ...problems(404, 409) },
        detail: {
          tags: ['Jobs'],
          summary: 'Send the stored result again',
          description:
            'For a `delivered` or `dead` job: the stored answer (or failure) is sent again with the same `webhook-id`, on a fresh retry schedule. The LLM is not called again.',
        },
      },
    )
}

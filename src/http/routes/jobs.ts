import { Elysia, t } from 'elysia'
import type { Clock } from '../../clock.ts'
import type { Job, Store } from '../../store/store.ts'
import { jobView } from '../job-view.ts'
import { conflict, notFound, problems } from '../problem.ts'
import { JobView, RedeliverAccepted } from '../schemas.ts'

export interface JobsDeps {
  store: Store
  wake: () => void
  clock: Clock
  owner: (request: Request) => string
}

const JobParams = t.Object({
  id: t.String({
    maxLength: 64,
    'x-error': 'must be a job id (at most 64 characters)',
    description: 'Job id.',
  }),
})

export function jobRoutes(deps: JobsDeps) {
  const find = async (id: string, request: Request): Promise<Job> => {
    const job = await deps.store.getJob(id, deps.owner(request), deps.clock.now())
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
      '/jobs/:id/redeliver',
      async ({ params, request, status }) => {
        const result = await deps.store.redeliver(params.id, deps.owner(request), deps.clock.now())
        if (result === 'not_found') throw notFound(`No job ${params.id}.`)
        if (result === 'not_finished')
          throw conflict('Only a delivered or dead job can be redelivered; this one is still in progress.')
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

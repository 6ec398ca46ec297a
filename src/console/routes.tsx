/** @jsxImportSource @kitajs/html */
import { Elysia } from 'elysia'
import type { Frame } from './frame.tsx'
import { jobHref } from './links.ts'
import { type ConsoleLists, jobListAskOf } from './lists.ts'
import { ConversationListPage, ConversationPage } from './pages/conversations.tsx'
import { JobLive, JobPage } from './pages/job.tsx'
import { JobListPage, JobRows } from './pages/jobs.tsx'
import { OverviewBody, OverviewPage } from './pages/overview.tsx'
import { fragmentResponse, redirectResponse } from './respond.ts'
import type { ConsoleService } from './service.ts'
import { seesEverything } from './viewer.ts'

export interface ConsoleRouteDeps {
  frame: Frame
  service: ConsoleService
  lists: ConsoleLists
}

/** The console's pages and actions, for a signed-in viewer (or anyone, on an open console). */
export function consoleRoutes(deps: ConsoleRouteDeps) {
  const { service, lists } = deps
  const { page, notFound, signedIn, acting } = deps.frame
  return new Elysia({ name: 'console' })
    .get(
      '/console',
      async ({ request }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        if (!seesEverything(who.viewer))
          return redirectResponse(request, '/console/jobs', who.visit.setCookie)
        const view = await service.overview(who.viewer)
        return page(request, who.visit, 'overview', 'Overview', <OverviewPage view={view} />)
      },
      { detail: { hide: true } },
    )
    .get(
      '/console/overview/live',
      async ({ request }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        if (!seesEverything(who.viewer)) return fragmentResponse('', { status: 403 })
        return fragmentResponse((<OverviewBody view={await service.overview(who.viewer)} />) as string)
      },
      { detail: { hide: true } },
    )
    .get(
      '/console/jobs',
      async ({ request }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        const view = await lists.jobs(who.viewer, jobListAskOf(new URL(request.url).searchParams), 'jobs')
        return page(request, who.visit, 'jobs', 'Jobs', <JobListPage view={view} csrf={who.visit.csrf} />)
      },
      { detail: { hide: true } },
    )
    .get(
      '/console/jobs/rows',
      async ({ request }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        const view = await lists.jobs(who.viewer, jobListAskOf(new URL(request.url).searchParams), 'jobs')
        return fragmentResponse((<JobRows view={view} />) as string)
      },
      { detail: { hide: true } },
    )
    .get(
      '/console/dead',
      async ({ request }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        const view = await lists.jobs(who.viewer, jobListAskOf(new URL(request.url).searchParams), 'dead')
        return page(
          request,
          who.visit,
          'dead',
          'Dead letters',
          <JobListPage view={view} csrf={who.visit.csrf} />,
        )
      },
      { detail: { hide: true } },
    )
    .get(
      '/console/dead/rows',
      async ({ request }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        const view = await lists.jobs(who.viewer, jobListAskOf(new URL(request.url).searchParams), 'dead')
        return fragmentResponse((<JobRows view={view} />) as string)
      },
      { detail: { hide: true } },
    )
    .get(
      '/console/conversations',
      async ({ request }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        const view = await lists.conversations(who.viewer, new URL(request.url).searchParams.get('cursor'))
        return page(
          request,
          who.visit,
          'conversations',
          'Conversations',
          <ConversationListPage view={view} />,
        )
      },
      { detail: { hide: true } },
    )
    .get(
      '/console/jobs/:id',
      async ({ request, params }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        const view = await service.job(who.viewer, params.id)
        if (!view) return notFound(request, who.visit, 'job')
        return page(
          request,
          who.visit,
          'jobs',
          `Job ${view.id}`,
          <JobPage view={view} csrf={who.visit.csrf} />,
        )
      },
      { detail: { hide: true } },
    )
    .get(
      '/console/jobs/:id/live',
      async ({ request, params }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        const view = await service.job(who.viewer, params.id)
        if (!view) return fragmentResponse('', { status: 404 })
        return fragmentResponse((<JobLive view={view} csrf={who.visit.csrf} />) as string)
      },
      { detail: { hide: true } },
    )
    .post(
      '/console/jobs/:id/redeliver',
      async ({ request, params }) => {
        const act = await acting(request)
        if (act instanceof Response) return act
        const result = await service.redeliver(act.viewer, params.id)
        if (result === 'not_found') return notFound(request, act.visit, 'job')
        const done = result === 'scheduled' ? 'redelivered' : 'not-finished'
        return redirectResponse(request, `${jobHref(params.id)}?done=${done}`)
      },
      { parse: 'none', detail: { hide: true } },
    )
    .post(
      '/console/jobs/:id/cancel',
      async ({ request, params }) => {
        const act = await acting(request)
        if (act instanceof Response) return act
        const result = await service.cancel(act.viewer, params.id)
        if (result === 'not_found') return notFound(request, act.visit, 'job')
        const done = result === 'finished' ? 'already-finished' : 'cancelled'
        return redirectResponse(request, `${jobHref(params.id)}?done=${done}`)
      },
      { parse: 'none', detail: { hide: true } },
    )
    .post(
      '/console/dead/redeliver',
      async ({ request }) => {
        const act = await acting(request)
        if (act instanceof Response) return act
        const n = await service.redeliverEach(act.viewer, act.form.getAll('id'))
        return redirectResponse(request, `/console/dead?done=redelivered-all&n=${n}`)
      },
      { parse: 'none', detail: { hide: true } },
    )
    .get(
      '/console/conversations/:id',
      async ({ request, params }) => {
        const who = await signedIn(request)
        if (who instanceof Response) return who
        const owner = new URL(request.url).searchParams.get('owner') ?? undefined
        const view = await service.conversation(who.viewer, params.id, owner)
        if (!view) return notFound(request, who.visit, 'conversation')
        return page(
          request,
          who.visit,
          'conversations',
          `Conversation ${view.id}`,
          <ConversationPage view={view} csrf={who.visit.csrf} />,
        )
      },
      { detail: { hide: true } },
    )
    .post(
      '/console/conversations/:id/forget',
      async ({ request, params }) => {
        const act = await acting(request)
        if (act instanceof Response) return act
        const owner = new URL(request.url).searchParams.get('owner') ?? undefined
        const found = await service.forget(act.viewer, params.id, owner)
        if (!found) return notFound(request, act.visit, 'conversation')
        return redirectResponse(request, '/console/conversations?done=forgotten')
      },
      { parse: 'none', detail: { hide: true } },
    )
}

/** @jsxImportSource @kitajs/html */
import type { Asset } from './assets.ts'
import { readForm } from './form.ts'
import type { ConsoleGate, Visit } from './gate.ts'
import { type AssetPaths, Layout } from './pages/layout.tsx'
import { MessagePage } from './pages/message.tsx'
import { htmlResponse, redirectResponse } from './respond.ts'
import { describeViewer, seesEverything, type Viewer } from './viewer.ts'
import type { Chrome, MessageView } from './views.ts'

export interface FrameDeps {
  gate: ConsoleGate
  assets: { paths: AssetPaths; byName: ReadonlyMap<string, Asset> }
  version: string
  docsEnabled: boolean
}

/** Texts shown after an action, by the word the redirect carries: nothing from the request is echoed. */
const NOTICES: Record<string, (n: number) => NonNullable<Chrome['notice']>> = {
  redelivered: () => ({ tone: 'ok', text: 'Scheduled for redelivery: the stored result is sent again.' }),
  'not-finished': () => ({
    tone: 'fail',
    text: 'Only a delivered or dead job can be redelivered: this one is still in progress, or was cancelled.',
  }),
  'redelivered-all': (n) => ({
    tone: 'ok',
    text: `${n} ${n === 1 ? 'job' : 'jobs'} scheduled for redelivery.`,
  }),
  cancelled: () => ({
    tone: 'ok',
    text: 'Cancelled: nothing of it joins the history, and no callback is sent.',
  }),
  'already-finished': () => ({
    tone: 'fail',
    text: 'This job had finished already: there was nothing left to cancel.',
  }),
  forgotten: () => ({ tone: 'ok', text: 'The conversation’s history is forgotten.' }),
  refused: () => ({ tone: 'fail', text: 'That action was refused: reload the page and try again.' }),
}

function noticeOf(request: Request): Chrome['notice'] {
  const params = new URL(request.url).searchParams
  const make = NOTICES[params.get('done') ?? '']
  return make?.(Math.max(0, Math.min(500, Number.parseInt(params.get('n') ?? '0', 10) || 0)))
}

const NAV: { section: Chrome['section']; label: string; href: string; admin?: boolean }[] = [
  { section: 'overview', label: 'Overview', href: '/console', admin: true },
  { section: 'jobs', label: 'Jobs', href: '/console/jobs' },
  { section: 'dead', label: 'Dead letters', href: '/console/dead' },
  { section: 'conversations', label: 'Conversations', href: '/console/conversations' },
]

/**
 * What every console route does around its page: who is asking (or off to the sign-in page),
 * whether a POST carries its session's token, and the frame a page is rendered in.
 */
export function createFrame(deps: FrameDeps) {
  const { gate } = deps

  const chrome = (visit: Visit, section: Chrome['section'], title: string, request: Request): Chrome => {
    const notice = noticeOf(request)
    return {
      title,
      section,
      nav:
        visit.viewer === undefined
          ? []
          : NAV.filter((n) => !n.admin || seesEverything(visit.viewer as Viewer)).map((n) => ({
              label: n.label,
              href: n.href,
              active: n.section === section,
            })),
      viewer: visit.viewer ? describeViewer(visit.viewer) : '',
      open: !gate.keysEnabled,
      signedIn: gate.keysEnabled && visit.viewer !== undefined,
      csrf: visit.csrf,
      ...(notice ? { notice } : {}),
      version: deps.version,
      ...(deps.docsEnabled ? { docsHref: '/swagger' } : {}),
    }
  }

  const page = (
    request: Request,
    visit: Visit,
    section: Chrome['section'],
    title: string,
    body: JSX.Element,
    status = 200,
  ): Response =>
    htmlResponse(
      (
        <Layout chrome={chrome(visit, section, title, request)} assets={deps.assets.paths}>
          {body}
        </Layout>
      ) as string,
      { status, setCookie: visit.setCookie },
    )

  const message = (request: Request, visit: Visit, status: number, view: MessageView): Response =>
    page(request, visit, 'jobs', view.heading, <MessagePage view={view} />, status)

  const notFound = (request: Request, visit: Visit, what: string): Response =>
    message(request, visit, 404, {
      heading: 'Not found',
      text: `No such ${what}, or it belongs to another client.`,
      back: { href: '/console', label: 'Back to the console' },
    })

  const toSignIn = (request: Request, visit: Visit): Response =>
    redirectResponse(request, '/console/sign-in', visit.setCookie)

  /** The visit, when someone may look; a redirect to the sign-in page otherwise. */
  const signedIn = async (request: Request): Promise<{ visit: Visit; viewer: Viewer } | Response> => {
    const visit = await gate.visit(request)
    return visit.viewer ? { visit, viewer: visit.viewer } : toSignIn(request, visit)
  }

  /** A POST: signed in and carrying this session's CSRF token, or refused with 403. */
  const acting = async (
    request: Request,
  ): Promise<{ visit: Visit; viewer: Viewer; form: URLSearchParams } | Response> => {
    const visit = await gate.visit(request)
    const form = await readForm(request)
    if (!gate.allowsPost(request, visit, form.get('_csrf')))
      return message(request, visit, 403, {
        heading: 'Refused',
        text: 'This form was not sent from this console’s own page (its CSRF token is missing or stale). Reload the page and try again.',
        back: { href: '/console', label: 'Back to the console' },
      })
    return visit.viewer ? { visit, viewer: visit.viewer, form } : toSignIn(request, visit)
  }

  return { page, message, notFound, signedIn, acting }
}

export type Frame = ReturnType<typeof createFrame>

/** @jsxImportSource @kitajs/html */
import { Elysia } from 'elysia'
import type { Asset } from './assets.ts'
import { readForm } from './form.ts'
import type { Frame } from './frame.tsx'
import type { ConsoleGate, Visit } from './gate.ts'
import { SignInPage } from './pages/sign-in.tsx'
import { redirectResponse } from './respond.ts'

/** Failed sign-ins by address: the API's failed-key limit, so both count against one budget. */
export interface SignInLimit {
  /** Throws while `address` has failed too often. */
  check(address: string, now: number): void
  record(address: string, now: number): void
}

export interface SignInRouteDeps {
  frame: Frame
  gate: ConsoleGate
  assets: ReadonlyMap<string, Asset>
  failedSignIns: SignInLimit
  addressOf: (request: Request) => string
  now: () => number
}

function SignIn(visit: Visit, failed: boolean): JSX.Element {
  return <SignInPage view={{ failed, action: '/console/sign-in' }} csrf={visit.csrf} />
}

/** The console's assets, and signing in and out: what a visitor reaches before a key. */
export function signInRoutes(deps: SignInRouteDeps) {
  const { gate } = deps
  const { page, message, acting } = deps.frame
  return new Elysia({ name: 'console-sign-in' })
    .get(
      '/console/assets/:name',
      ({ params }) => {
        const asset = deps.assets.get(params.name)
        if (!asset) return new Response('not found', { status: 404 })
        return new Response(asset.body, {
          headers: { 'content-type': asset.type, 'cache-control': 'public, max-age=31536000, immutable' },
        })
      },
      { detail: { hide: true } },
    )
    .get(
      '/console/sign-in',
      async ({ request }) => {
        const visit = await gate.visit(request)
        if (visit.viewer) return redirectResponse(request, '/console', visit.setCookie)
        return page(request, visit, 'sign-in', 'Sign in', SignIn(visit, false))
      },
      { detail: { hide: true } },
    )
    .post(
      '/console/sign-in',
      async ({ request }) => {
        const visit = await gate.visit(request)
        const form = await readForm(request)
        if (!gate.allowsPost(request, visit, form.get('_csrf')))
          return page(request, visit, 'sign-in', 'Sign in', SignIn(visit, false), 403)
        const signed = await gate.signIn(request, form.get('key') ?? '')
        if (!signed) {
          // Counted with the API's wrong keys; a right key passes even then.
          const address = deps.addressOf(request)
          try {
            deps.failedSignIns.check(address, deps.now())
          } catch {
            return message(request, visit, 429, {
              heading: 'Too many attempts',
              text: 'Too many wrong keys from this address: wait a minute, then try again.',
            })
          }
          deps.failedSignIns.record(address, deps.now())
          return page(request, visit, 'sign-in', 'Sign in', SignIn(visit, true), 401)
        }
        return redirectResponse(request, '/console', signed.setCookie)
      },
      { parse: 'none', detail: { hide: true } },
    )
    .post(
      '/console/sign-out',
      async ({ request }) => {
        const act = await acting(request)
        if (act instanceof Response) return act
        return redirectResponse(request, '/console/sign-in', gate.signOut(request))
      },
      { parse: 'none', detail: { hide: true } },
    )
}

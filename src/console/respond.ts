/**
 * Every console response is made here, with the headers that keep the pages safe: a CSP that
 * allows only the console's own script and stylesheet (no inline script or style), no framing,
 * no caching of pages that show jobs, no referrer leaving with a job id in it.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')

const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store',
}

export interface ResponseOptions {
  status?: number
  setCookie?: string | undefined
}

function headers(extra: Record<string, string>, setCookie: string | undefined): Headers {
  const h = new Headers({ ...PAGE_HEADERS, ...extra })
  if (setCookie) h.append('set-cookie', setCookie)
  return h
}

export function htmlResponse(html: string, options: ResponseOptions = {}): Response {
  return new Response(`<!doctype html>${html}`, {
    status: options.status ?? 200,
    headers: headers({}, options.setCookie),
  })
}

/** A part of a page, for htmx to swap in (no doctype). */
export function fragmentResponse(html: string, options: ResponseOptions = {}): Response {
  return new Response(html, { status: options.status ?? 200, headers: headers({}, options.setCookie) })
}

/**
 * After an action, or to the sign-in page: 303 for a plain form or link, and for htmx (which
 * would swap the redirected page into the element) an `HX-Redirect` it follows as a whole page.
 */
export function redirectResponse(request: Request, location: string, setCookie?: string): Response {
  if (request.headers.get('hx-request') === 'true')
    return new Response(null, { status: 200, headers: headers({ 'hx-redirect': location }, setCookie) })
  return new Response(null, { status: 303, headers: headers({ location }, setCookie) })
}

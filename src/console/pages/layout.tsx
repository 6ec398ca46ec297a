/** @jsxImportSource @kitajs/html */
import type { PropsWithChildren } from '@kitajs/html'
import type { Chrome } from '../views.ts'
import { CsrfField } from './parts.tsx'

/** Where the embedded stylesheet and htmx are served (their names carry a content hash). */
export interface AssetPaths {
  css: string
  js: string
}

// No eval, no injected style element, no scripts run from swapped HTML: htmx then works under the CSP.
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
  historyCacheSize: 0,
})

export function Layout(props: PropsWithChildren<{ chrome: Chrome; assets: AssetPaths }>) {
  const { chrome } = props
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content={HTMX_CONFIG} />
        <meta name="referrer" content="no-referrer" />
        <title safe>{`${chrome.title} · llm-relay console`}</title>
        <link rel="stylesheet" href={props.assets.css} />
        <script src={props.assets.js} defer />
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/console">
            <span class="mark" />
            llm-relay <span class="muted">console</span>
          </a>
          {chrome.nav.length === 0 ? (
            ''
          ) : (
            <nav class="sections">
              {chrome.nav.map((s) => (
                <a
                  href={s.href}
                  class={s.active ? 'active' : undefined}
                  aria-current={s.active ? 'page' : undefined}
                  safe
                >
                  {s.label}
                </a>
              ))}
            </nav>
          )}
          <div class="who">
            {chrome.viewer === '' ? (
              ''
            ) : (
              <span class="viewer" safe>
                {chrome.viewer}
              </span>
            )}
            {chrome.signedIn ? (
              <form method="post" action="/console/sign-out" class="inline">
                <CsrfField token={chrome.csrf} />
                <button type="submit" class="button ghost">
                  Sign out
                </button>
              </form>
            ) : (
              ''
            )}
          </div>
        </header>
        {chrome.open ? (
          <div class="banner warn">
            <strong>Open console.</strong> No API keys are set, so this console, like the API, is open to
            anyone who can reach it. Set <code>API_KEYS</code> to require a key.
          </div>
        ) : (
          ''
        )}
        <main>
          {chrome.notice ? (
            <div class={`notice tone-${chrome.notice.tone}`} role="status" safe>
              {chrome.notice.text}
            </div>
          ) : (
            ''
          )}
          {props.children}
        </main>
        <footer>
          <span safe>{`llm-relay ${chrome.version}`}</span> · times in UTC
          {chrome.docsHref ? (
            <>
              {' · '}
              <a href={chrome.docsHref}>API docs</a>
            </>
          ) : (
            ''
          )}
        </footer>
      </body>
    </html>
  )
}

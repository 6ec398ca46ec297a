/** @jsxImportSource @kitajs/html */
import { clockTime, count, preview } from '../format.ts'
import type { Counted, OverviewView } from '../views.ts'
import { Badge, Num, ShortId, When } from './parts.tsx'

function Stat(props: { item: Counted }) {
  return (
    <a class={`stat tone-${props.item.tone}`} href={props.item.href}>
      <span class="stat-label" safe>
        {props.item.label}
      </span>
      <span class="stat-value">{count(props.item.count)}</span>
    </a>
  )
}

/** The live part of the overview: polled by htmx, also the first render. */
export function OverviewBody(props: { view: OverviewView }) {
  const v = props.view
  return (
    <div id="overview" hx-get={v.livePath} hx-trigger="every 5s" hx-swap="outerHTML">
      <section class="panel">
        <header class="panel-head">
          <h2>Open jobs</h2>
          <span class="muted">
            <Num value={v.openTotal} /> unfinished, whole fleet
          </span>
        </header>
        <div class="stats">
          {v.open.map((item) => (
            <Stat item={item} />
          ))}
        </div>
      </section>
      <section class="panel">
        <header class="panel-head">
          <h2>Last hour</h2>
          <span class="muted">
            this instance, since <When at={v.recentSince} now={v.now} />
          </span>
        </header>
        <div class="stats">
          {v.recent.map((item) => (
            <Stat item={item} />
          ))}
        </div>
      </section>
      <div class="columns overview">
        <section class="panel">
          <header class="panel-head">
            <h2>Newest dead letters</h2>
            <a href="/console/dead">All dead letters →</a>
          </header>
          {v.deadLetters.length === 0 ? (
            <p class="empty">No dead jobs: every callback got through.</p>
          ) : (
            <table class="grid compact">
              <thead>
                <tr>
                  <th>Job</th>
                  <th>Conversation</th>
                  <th>Message</th>
                  <th>Died</th>
                </tr>
              </thead>
              <tbody>
                {v.deadLetters.map((r) => (
                  <tr>
                    <td>
                      <ShortId id={r.id} href={r.href} tail />
                    </td>
                    <td>
                      <ShortId id={r.conversationId} href={r.conversationHref} />
                    </td>
                    <td class="message">
                      <a href={r.href} class="plain-link" safe>
                        {preview(r.message, 80)}
                      </a>
                    </td>
                    <td class="nowrap">
                      <When at={r.updatedAt} now={v.now} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <div>
          <section class="panel">
            <header class="panel-head">
              <h2>LLM budget</h2>
              <Badge tone={v.budget.tone} text={v.budget.state} />
            </header>
            <p class="budget" safe>
              {v.budget.text}
            </p>
            {v.budget.until === undefined ? (
              ''
            ) : (
              <p class="muted">
                until <span safe>{`${clockTime(v.budget.until)} UTC`}</span> (
                <When at={v.budget.until} now={v.now} />)
              </p>
            )}
          </section>
          <section class="panel">
            <header class="panel-head">
              <h2>LLM errors by code</h2>
              <span class="muted">
                since <When at={v.recentSince} now={v.now} />
              </span>
            </header>
            {v.llmErrors.length === 0 ? (
              <p class="empty">No LLM errors.</p>
            ) : (
              <table class="grid compact">
                <tbody>
                  {v.llmErrors.map((e) => (
                    <tr>
                      <td>
                        <div class="mono" safe>
                          {e.code}
                        </div>
                        <div class="muted small" safe>
                          {e.description}
                        </div>
                      </td>
                      <td class="right">
                        <Num value={e.count} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </div>
      </div>
    </div>
  )
}

export function OverviewPage(props: { view: OverviewView }) {
  return (
    <>
      <h1>Overview</h1>
      <OverviewBody view={props.view} />
    </>
  )
}

/** @jsxImportSource @kitajs/html */
import { count } from '../format.ts'
import type { JobPageView, TimelineEntry } from '../views.ts'
import { ActionButton, Badge, When } from './parts.tsx'

function Timeline(props: { entries: TimelineEntry[]; now: number }) {
  return (
    <ol class="timeline">
      {props.entries.map((e) => (
        <li class={`tone-${e.tone}`}>
          <span class="tl-dot" />
          <div class="tl-body">
            <div class="tl-head">
              <strong safe>{e.title}</strong>
              <When at={e.at} now={props.now} exact unknown="" />
            </div>
            {e.detail ? (
              <div class="muted" safe>
                {e.detail}
              </div>
            ) : (
              ''
            )}
            {e.error ? (
              <div class="tl-error">
                <span class="mono" safe>
                  {e.error.code}
                </span>{' '}
                <span safe>{e.error.message}</span>
              </div>
            ) : (
              ''
            )}
          </div>
        </li>
      ))}
    </ol>
  )
}

function Details(props: { view: JobPageView }) {
  const v = props.view
  return (
    <dl class="details">
      <dt>Status</dt>
      <dd>
        <Badge tone={v.tone} text={v.status} />
      </dd>
      {v.owner === undefined ? (
        ''
      ) : (
        <>
          <dt>Client</dt>
          <dd class="mono" safe>
            {v.owner}
          </dd>
        </>
      )}
      <dt>Conversation</dt>
      <dd>
        <a href={v.conversationHref} class="mono" safe>
          {v.conversationId}
        </a>{' '}
        <span class="muted" safe>{`#${v.sequence}`}</span>
      </dd>
      <dt>Model</dt>
      <dd class="mono" safe>
        {v.model}
      </dd>
      <dt>Usage</dt>
      <dd>
        {v.usage ? (
          <span
            safe
          >{`${count(v.usage.total)} tokens (${count(v.usage.prompt)} in, ${count(v.usage.completion)} out)`}</span>
        ) : (
          <span class="muted">—</span>
        )}
      </dd>
      <dt>Callback</dt>
      <dd class="mono break" safe>
        {v.callbackUrl}
      </dd>
      <dt>Created</dt>
      <dd>
        <When at={v.createdAt} now={v.now} exact />
      </dd>
      <dt>Updated</dt>
      <dd>
        <When at={v.updatedAt} now={v.now} exact />
      </dd>
      <dt>Finished</dt>
      <dd>
        <When at={v.completedAt} now={v.now} exact />
      </dd>
    </dl>
  )
}

/** What can change while the job runs: polled until it is finished. */
export function JobLive(props: { view: JobPageView; csrf: string }) {
  const v = props.view
  return (
    <div
      id="job-live"
      hx-get={v.livePath}
      hx-trigger={v.livePath ? 'every 2s' : undefined}
      hx-swap="outerHTML"
    >
      <div class="page-head">
        <div>
          <h1>
            Job{' '}
            <span class="mono" safe>
              {v.id}
            </span>{' '}
            <Badge tone={v.tone} text={v.status} />
          </h1>
          <p class="subline">
            <a href={v.conversationHref} class="mono" safe>
              {v.conversationId}
            </a>
            <span safe>{` · message #${v.sequence}`}</span>
            {v.owner === undefined ? '' : <span safe>{` · ${v.owner}`}</span>}
            {' · accepted '}
            <When at={v.createdAt} now={v.now} />
          </p>
        </div>
        <div class="actions">
          {v.actions.redeliver ? (
            <ActionButton action={v.actions.redeliver} csrf={props.csrf} label="Redeliver" kind="primary" />
          ) : (
            ''
          )}
          {v.actions.cancel ? (
            <ActionButton
              action={v.actions.cancel}
              csrf={props.csrf}
              label="Cancel"
              kind="danger"
              confirm="Cancel this job? Nothing of it joins the history and no callback is sent."
            />
          ) : (
            ''
          )}
        </div>
      </div>
      <div class="columns job">
        <div>
          <section class="panel">
            <header class="panel-head">
              <h2>Message</h2>
            </header>
            <pre class="text" safe>
              {v.message}
            </pre>
          </section>
          {v.response === null ? (
            ''
          ) : (
            <section class="panel">
              <header class="panel-head">
                <h2>Answer</h2>
              </header>
              <pre class="text" safe>
                {v.response}
              </pre>
            </section>
          )}
          {v.error ? (
            <section class="panel error">
              <header class="panel-head">
                <h2>Error</h2>
                <span class="mono" safe>
                  {v.error.code}
                </span>
              </header>
              <p class="error-text" safe>
                {v.error.message}
              </p>
              <p class="error-text muted" safe>
                {v.error.description}
              </p>
            </section>
          ) : (
            ''
          )}
          {v.metadata === null ? (
            ''
          ) : (
            <section class="panel">
              <header class="panel-head">
                <h2>Metadata</h2>
              </header>
              <pre class="text mono" safe>
                {v.metadata}
              </pre>
            </section>
          )}
        </div>
        <div>
          <section class="panel">
            <header class="panel-head">
              <h2>Details</h2>
            </header>
            <Details view={v} />
          </section>
          <section class="panel">
            <header class="panel-head">
              <h2>Timeline</h2>
            </header>
            <Timeline entries={v.timeline} now={v.now} />
          </section>
        </div>
      </div>
    </div>
  )
}

export function JobPage(props: { view: JobPageView; csrf: string }) {
  return <JobLive view={props.view} csrf={props.csrf} />
}

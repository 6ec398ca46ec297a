/** @jsxImportSource @kitajs/html */
import { preview } from '../format.ts'
import type { JobFilterForm, JobListView, JobRow } from '../views.ts'
import { ActionButton, Badge, Pager, ShortId, Tabs, When } from './parts.tsx'

function Filters(props: { filter: JobFilterForm }) {
  const f = props.filter
  return (
    <form method="get" action={f.action} class="filters">
      {f.statuses.map((status) => (
        <input type="hidden" name="status" value={status} />
      ))}
      <label>
        <span>Conversation</span>
        <input
          name="conversation_id"
          value={f.conversationId}
          placeholder="conversation id"
          maxlength="128"
        />
      </label>
      <label class="grow">
        <span>Message contains</span>
        <input name="q" value={f.q} placeholder="text in the message" maxlength="200" />
      </label>
      <label>
        <span>Created after (UTC)</span>
        <input type="datetime-local" name="created_after" value={f.createdAfter} />
      </label>
      <label>
        <span>Created before (UTC)</span>
        <input type="datetime-local" name="created_before" value={f.createdBefore} />
      </label>
      <div class="filter-buttons">
        <button type="submit" class="button primary">
          Filter
        </button>
        <a class="button plain" href={f.action}>
          Reset
        </a>
      </div>
    </form>
  )
}

function Row(props: { row: JobRow; now: number; showOwner: boolean }) {
  const r = props.row
  return (
    <tr>
      <td>
        <Badge tone={r.tone} text={r.status} />
      </td>
      <td>
        <ShortId id={r.id} href={r.href} tail />
      </td>
      {props.showOwner ? (
        <td class="mono" safe>
          {r.owner ?? ''}
        </td>
      ) : (
        ''
      )}
      <td>
        <ShortId id={r.conversationId} href={r.conversationHref} />
      </td>
      <td class="message">
        <a href={r.href} class="plain-link" safe>
          {preview(r.message)}
        </a>
        {r.errorCode ? (
          <span class="error-code" safe>
            {r.errorCode}
          </span>
        ) : (
          ''
        )}
      </td>
      <td>
        <span class="mono muted ellipsis model" title={r.model} safe>
          {r.model}
        </span>
      </td>
      <td class="right mono" title="LLM attempts / callback attempts">
        {`${r.llmAttempts} / ${r.deliveryAttempts}`}
      </td>
      <td class="nowrap">
        <When at={r.createdAt} now={props.now} />
      </td>
      <td class="nowrap">
        <When at={r.updatedAt} now={props.now} />
      </td>
    </tr>
  )
}

/** The table body: polled by htmx on the newest page, so new jobs and status changes show up. */
export function JobRows(props: { view: JobListView }) {
  const v = props.view
  const columns = v.showOwner ? 9 : 8
  return (
    <tbody
      id="job-rows"
      hx-get={v.livePath}
      hx-trigger={v.livePath ? 'every 5s' : undefined}
      hx-swap="outerHTML"
    >
      {v.rows.length === 0 ? (
        <tr>
          <td colspan={String(columns)} class="empty" safe>
            {v.empty}
          </td>
        </tr>
      ) : (
        v.rows.map((row) => <Row row={row} now={v.now} showOwner={v.showOwner} />)
      )}
    </tbody>
  )
}

export function JobListPage(props: { view: JobListView; csrf: string }) {
  const v = props.view
  return (
    <>
      <div class="page-head">
        <h1 safe>{v.heading}</h1>
        {v.bulk ? (
          <ActionButton
            action={v.bulk.action}
            csrf={props.csrf}
            label={v.bulk.label}
            kind="primary"
            confirm={`${v.bulk.label}? Each job's stored result is sent again to its callback.`}
            fields={{ id: v.bulk.ids }}
          />
        ) : (
          ''
        )}
      </div>
      {v.intro ? (
        <p class="intro" safe>
          {v.intro}
        </p>
      ) : (
        ''
      )}
      <Tabs tabs={v.tabs} />
      <Filters filter={v.filter} />
      <div class="table-wrap">
        <table class="grid jobs">
          <thead>
            <tr>
              <th>Status</th>
              <th>Job</th>
              {v.showOwner ? <th>Client</th> : ''}
              <th>Conversation</th>
              <th>Message</th>
              <th>Model</th>
              <th class="right" title="LLM attempts / callback attempts">
                Tries
              </th>
              <th>Created</th>
              <th>Updated</th>
            </tr>
          </thead>
          <JobRows view={v} />
        </table>
      </div>
      <Pager newerHref={v.newerHref} olderHref={v.olderHref} />
    </>
  )
}

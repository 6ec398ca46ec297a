/** @jsxImportSource @kitajs/html */
import type { ConversationListView, ConversationPageView } from '../views.ts'
import { ActionButton, Num, Pager, ShortId, When } from './parts.tsx'

export function ConversationListPage(props: { view: ConversationListView }) {
  const v = props.view
  return (
    <>
      <div class="page-head">
        <h1>Conversations</h1>
      </div>
      <p class="intro">
        Most recently active first. A conversation is one line of messages, answered in order.
      </p>
      <div class="table-wrap">
        <table class="grid">
          <thead>
            <tr>
              <th>Conversation</th>
              {v.showOwner ? <th>Client</th> : ''}
              <th class="right">Messages</th>
              <th class="right">Open jobs</th>
              <th>Last message</th>
            </tr>
          </thead>
          <tbody>
            {v.rows.length === 0 ? (
              <tr>
                <td colspan={v.showOwner ? '5' : '4'} class="empty" safe>
                  {v.empty}
                </td>
              </tr>
            ) : (
              v.rows.map((r) => (
                <tr>
                  <td>
                    <ShortId id={r.id} href={r.href} />
                  </td>
                  {v.showOwner ? (
                    <td class="mono" safe>
                      {r.owner ?? ''}
                    </td>
                  ) : (
                    ''
                  )}
                  <td class="right">
                    <Num value={r.messages} />
                  </td>
                  <td class="right">
                    <Num value={r.openJobs} />
                  </td>
                  <td>
                    <When at={r.lastMessageAt} now={v.now} />
                  </td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      <Pager newerHref={v.newerHref} olderHref={v.olderHref} />
    </>
  )
}

export function ConversationPage(props: { view: ConversationPageView; csrf: string }) {
  const v = props.view
  return (
    <>
      <div class="page-head">
        <h1>
          Conversation{' '}
          <span class="mono" safe>
            {v.id}
          </span>
        </h1>
        <div class="actions">
          <a class="button plain" href={v.jobsHref}>
            Its jobs
          </a>
          <ActionButton
            action={v.forgetAction}
            csrf={props.csrf}
            label="Forget"
            kind="danger"
            confirm="Forget this conversation? Its history is deleted; messages still in line are answered as usual."
          />
        </div>
      </div>
      {v.owner === undefined ? (
        ''
      ) : (
        <p class="intro">
          Client{' '}
          <span class="mono" safe>
            {v.owner}
          </span>
        </p>
      )}
      <section class="panel">
        <header class="panel-head">
          <h2>History</h2>
          <span class="muted">
            <Num value={v.messages.length} /> messages, oldest first
          </span>
        </header>
        {v.messages.length === 0 ? (
          <p class="empty">No history: it was forgotten, or no answer has joined it yet.</p>
        ) : (
          <ol class="history">
            {v.messages.map((m) => (
              <li class={`msg ${m.role}`}>
                <div class="msg-head">
                  <span class="role" safe>
                    {m.role}
                  </span>
                  <When at={m.at} now={v.now} exact />
                  <a href={m.jobHref} class="muted mono" title="the job this message belongs to" safe>
                    {m.jobId}
                  </a>
                </div>
                <pre class="text" safe>
                  {m.content}
                </pre>
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  )
}

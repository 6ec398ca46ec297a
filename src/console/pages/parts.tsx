/** @jsxImportSource @kitajs/html */
import type { PropsWithChildren } from '@kitajs/html'
import { clockTime, count, isoTime, relativeTime } from '../format.ts'
import type { Tab, Tone } from '../views.ts'

/**
 * The small pieces every page uses. Text from outside (messages, ids, errors) is only ever
 * rendered with `safe`, which escapes it; attributes are escaped by @kitajs/html itself.
 */

export function Badge(props: { tone: Tone; text: string }) {
  return (
    <span class={`badge tone-${props.tone}`} safe>
      {props.text}
    </span>
  )
}

/** A time as `4 min ago`, with the exact UTC time on hover. */
export function When(props: { at: number | null; now: number; exact?: boolean; unknown?: string }) {
  if (props.at === null) return <span class="muted">{props.unknown ?? '—'}</span>
  return (
    <time datetime={isoTime(props.at)} title={`${clockTime(props.at)} UTC`} safe>
      {props.exact ? clockTime(props.at) : relativeTime(props.at, props.now)}
    </time>
  )
}

export function Num(props: { value: number }) {
  return <span class="num">{count(props.value)}</span>
}

export function Tabs(props: { tabs: Tab[] }) {
  return (
    <nav class="tabs">
      {props.tabs.map((tab) => (
        <a
          href={tab.href}
          class={tab.active ? 'tab active' : 'tab'}
          aria-current={tab.active ? 'page' : undefined}
        >
          <span class={`dot tone-${tab.tone}`} />
          <span safe>{tab.label}</span>
          {tab.count === undefined ? '' : <span class="count">{count(tab.count)}</span>}
        </a>
      ))}
    </nav>
  )
}

export function CsrfField(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />
}

/** A POST button: a plain form that also works without JavaScript; htmx asks first when `confirm` is set. */
export function ActionButton(props: {
  action: string
  csrf: string
  label: string
  kind?: 'primary' | 'danger' | 'plain'
  confirm?: string
  fields?: Record<string, string[]>
}) {
  const fields = Object.entries(props.fields ?? {}).flatMap(([name, values]) =>
    values.map((value) => <input type="hidden" name={name} value={value} />),
  )
  return (
    <form
      method="post"
      action={props.action}
      class="inline"
      hx-post={props.confirm ? props.action : undefined}
      hx-confirm={props.confirm}
    >
      <CsrfField token={props.csrf} />
      {fields}
      <button type="submit" class={`button ${props.kind ?? 'plain'}`} safe>
        {props.label}
      </button>
    </form>
  )
}

export function Pager(props: PropsWithChildren<{ newerHref?: string; olderHref?: string }>) {
  if (!props.newerHref && !props.olderHref) return ''
  return (
    <nav class="pager">
      {props.newerHref ? (
        <a class="button plain" href={props.newerHref}>
          ← Newest
        </a>
      ) : (
        <span />
      )}
      {props.olderHref ? (
        <a class="button plain" href={props.olderHref}>
          Older →
        </a>
      ) : (
        <span />
      )}
    </nav>
  )
}

/**
 * An id in a narrow cell. Job ids are UUIDv7, whose first half is a timestamp shared by every
 * job of the same moment, so the cell shows the end; the whole id is on hover and in the link.
 */
export function ShortId(props: { id: string; href?: string; tail?: boolean }) {
  const text = props.tail && props.id.length > 13 ? `…${props.id.slice(-12)}` : props.id
  const inner = (
    <span class="mono ellipsis" title={props.id} safe>
      {text}
    </span>
  )
  return props.href ? <a href={props.href}>{inner}</a> : inner
}

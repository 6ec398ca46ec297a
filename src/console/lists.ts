import { JOB_STATUSES, type JobStatus } from '../job.ts'
import type { JobSummary } from '../store/listing.ts'
import type { OpenJobCounts, Store } from '../store/store.ts'
import {
  conversationCursor,
  conversationHref,
  conversationPositionOf,
  jobCursor,
  jobHref,
  jobPositionOf,
  queryOf,
} from './links.ts'
import { toneOf } from './timeline.ts'
import { ownerScope, seesEverything, type Viewer } from './viewer.ts'
import type { ConversationListView, JobListView, JobRow, Tab } from './views.ts'

const PAGE = 50
const MAX_PAGE = 500
const SEARCH_MAX = 200

/** What a jobs page asks for, read leniently from its URL: a value that does not parse is left out. */
export interface JobListAsk {
  statuses: JobStatus[]
  conversationId: string
  q: string
  /** As typed into the form (`2026-12-01T09:00`, read as UTC), so the form shows it back. */
  createdAfter: string
  createdBefore: string
  cursor: string
  limit: number
}

const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/

/** A `datetime-local` value (no zone: the console's times are UTC) or a full ISO 8601 time. */
function timeOf(value: string): number | undefined {
  if (value === '') return undefined
  const ms = Date.parse(LOCAL_TIME.test(value) ? `${value}Z` : value)
  return Number.isNaN(ms) ? undefined : ms
}

export function jobListAskOf(params: URLSearchParams): JobListAsk {
  const statuses = params
    .getAll('status')
    .filter((s): s is JobStatus => (JOB_STATUSES as readonly string[]).includes(s))
  const time = (name: string) => {
    const raw = (params.get(name) ?? '').trim().slice(0, 40)
    return timeOf(raw) === undefined ? '' : raw
  }
  const limit = Number.parseInt(params.get('limit') ?? '', 10)
  return {
    statuses: [...new Set(statuses)],
    conversationId: (params.get('conversation_id') ?? '').trim().slice(0, 128),
    q: (params.get('q') ?? '').slice(0, SEARCH_MAX),
    createdAfter: time('created_after'),
    createdBefore: time('created_before'),
    cursor: jobPositionOf(params.get('cursor')) ? (params.get('cursor') as string) : '',
    limit: Number.isSafeInteger(limit) && limit >= 1 ? Math.min(limit, MAX_PAGE) : PAGE,
  }
}

const STATUS_LABELS: Record<JobStatus, string> = {
  queued: 'Queued',
  processing: 'Processing',
  delivering: 'Delivering',
  delivered: 'Delivered',
  dead: 'Dead',
  cancelled: 'Cancelled',
  awaiting_tool_results: 'Awaiting tools',
}

export function jobRow(viewer: Viewer, job: JobSummary): JobRow {
  return {
    id: job.id,
    href: jobHref(job.id),
    status: job.status,
    tone: toneOf(job.status),
    conversationId: job.conversationId,
    conversationHref: conversationHref(job.conversationId, job.owner, ownerScope(viewer) === undefined),
    ...(viewer.kind === 'admin' ? { owner: job.owner } : {}),
    message: job.messagePreview,
    model: job.model,
    ...(job.errorCode ? { errorCode: job.errorCode } : {}),
    llmAttempts: job.llmAttempts,
    deliveryAttempts: job.deliveryAttempts,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  }
}

/** The jobs list, the dead letters and the conversations list: one keyset page each, O(limit). */
export class ConsoleLists {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  /** `dead`: the dead letters page (status fixed, one button to send every job shown again). */
  async jobs(viewer: Viewer, ask: JobListAsk, page: 'jobs' | 'dead'): Promise<JobListView> {
    const statuses: JobStatus[] = page === 'dead' ? ['dead'] : ask.statuses
    const createdAfter = timeOf(ask.createdAfter)
    const createdBefore = timeOf(ask.createdBefore)
    const after = jobPositionOf(ask.cursor)
    const [result, open] = await Promise.all([
      this.store.listJobs({
        owner: ownerScope(viewer),
        ...(statuses.length > 0 ? { statuses } : {}),
        ...(ask.conversationId === '' ? {} : { conversationId: ask.conversationId }),
        ...(createdAfter === undefined ? {} : { createdAfter }),
        ...(createdBefore === undefined ? {} : { createdBefore }),
        ...(ask.q === '' ? {} : { text: ask.q }),
        limit: ask.limit,
        ...(after ? { after } : {}),
      }),
      // The open counts are fleet-wide: shown to those who see every owner's jobs.
      page === 'jobs' && seesEverything(viewer) ? this.store.countOpenJobs() : undefined,
    ])
    const base = page === 'dead' ? '/console/dead' : '/console/jobs'
    const filters = {
      conversation_id: ask.conversationId,
      q: ask.q,
      created_after: ask.createdAfter,
      created_before: ask.createdBefore,
      limit: ask.limit === PAGE ? '' : String(ask.limit),
    }
    const here = queryOf({ status: page === 'dead' ? [] : statuses, ...filters })
    const rows = result.jobs.map((job) => jobRow(viewer, job))
    const filtered =
      ask.conversationId !== '' || ask.q !== '' || createdAfter !== undefined || createdBefore !== undefined
    return {
      now: this.now(),
      heading: page === 'dead' ? 'Dead letters' : 'Jobs',
      ...(page === 'dead'
        ? {
            intro:
              'Jobs whose callback failed on every attempt. Redelivery sends the stored answer (or failure) again with the same webhook-id; the LLM is not asked again.',
          }
        : {}),
      tabs: page === 'dead' ? [] : this.tabs(base, statuses, filters, open),
      filter: {
        action: base,
        statuses: page === 'dead' ? [] : statuses,
        conversationId: ask.conversationId,
        q: ask.q,
        createdAfter: ask.createdAfter,
        createdBefore: ask.createdBefore,
      },
      rows,
      showOwner: viewer.kind === 'admin',
      ...(after ? {} : { livePath: `${base}/rows${here}` }),
      ...(after ? { newerHref: `${base}${here}` } : {}),
      ...(result.next
        ? {
            olderHref: `${base}${queryOf({ status: page === 'dead' ? [] : statuses, ...filters, cursor: jobCursor(result.next) })}`,
          }
        : {}),
      ...(page === 'dead' && rows.length > 0
        ? {
            bulk: {
              action: '/console/dead/redeliver',
              ids: rows.map((r) => r.id),
              label: `Redeliver all shown (${rows.length})`,
            },
          }
        : {}),
      empty:
        result.next !== null
          ? 'No match among the jobs searched so far: look further with Older.'
          : page === 'dead'
            ? filtered
              ? 'No dead job matches.'
              : 'No dead jobs: every callback got through.'
            : filtered || statuses.length > 0
              ? 'No job matches.'
              : 'No jobs yet: send one to POST /webhook.',
    }
  }

  private tabs(
    base: string,
    statuses: readonly JobStatus[],
    filters: Record<string, string>,
    open: OpenJobCounts | undefined,
  ): Tab[] {
    const only = statuses.length === 1 ? statuses[0] : undefined
    const tabs: Tab[] = [
      { label: 'All', href: `${base}${queryOf(filters)}`, active: statuses.length === 0, tone: 'info' },
    ]
    for (const status of JOB_STATUSES) {
      const count = open && status in open ? open[status as keyof OpenJobCounts] : undefined
      tabs.push({
        label: STATUS_LABELS[status],
        href: `${base}${queryOf({ status, ...filters })}`,
        active: only === status,
        tone: toneOf(status),
        ...(count === undefined ? {} : { count }),
      })
    }
    return tabs
  }

  async conversations(viewer: Viewer, cursor: string | null): Promise<ConversationListView> {
    const after = conversationPositionOf(cursor)
    const named = ownerScope(viewer) === undefined
    const result = await this.store.listConversations({
      owner: ownerScope(viewer),
      limit: PAGE,
      ...(after ? { after } : {}),
    })
    return {
      now: this.now(),
      rows: result.conversations.map((c) => ({
        id: c.id,
        href: conversationHref(c.id, c.owner, named),
        ...(viewer.kind === 'admin' ? { owner: c.owner } : {}),
        messages: c.messages,
        openJobs: c.openJobs,
        lastMessageAt: c.lastMessageAt,
      })),
      showOwner: viewer.kind === 'admin',
      ...(after ? { newerHref: '/console/conversations' } : {}),
      ...(result.next
        ? { olderHref: `/console/conversations?cursor=${conversationCursor(result.next)}` }
        : {}),
      empty: 'No conversations yet.',
    }
  }
}

import { ERROR_CODES, type ErrorCode } from '../job.ts'
import { type CallBudget, WINDOW_MS } from '../limits/call-budget.ts'
import {
  type CancellableStatus,
  isCancellable,
  type Job,
  type RedeliverResult,
  type Store,
} from '../store/store.ts'
import { conversationHref, forgetAction, jobHref } from './links.ts'
import { jobRow } from './lists.ts'
import type { RecentCounts } from './recent-counts.ts'
import { jobTimeline, toneOf } from './timeline.ts'
import { ownerScope, type Viewer } from './viewer.ts'
import type { ConversationPageView, JobPageView, OverviewView } from './views.ts'

/** A pause of LLM calls after a 429: of one model, or of the whole account. */
export interface LlmPause {
  scope: 'model' | 'account'
  model?: string
  until: number
}

export interface ConsoleServiceDeps {
  store: Store
  recent: RecentCounts
  budget: CallBudget | undefined
  pauses: () => readonly LlmPause[]
  /** LLM_MAX_RPM as resolved: 0 is no limit. */
  llmMaxRpm: number
  now: () => number
  wake: () => void
  /** A job was cancelled here: the relay stops a run of it, counts it and wakes the next in line. */
  onCancelled: (job: Job, from: CancellableStatus) => void
}

export function describeError(code: string): string {
  return ERROR_CODES[code as ErrorCode] ?? ''
}

/**
 * Everything the console shows, gathered from the store, the metrics and the call budget.
 * It knows nothing of HTTP; each method answers one page's data, in a bounded number of
 * queries, each reading an index (the pages must answer in milliseconds at a million jobs).
 */
export class ConsoleService {
  constructor(private readonly deps: ConsoleServiceDeps) {}

  /** The whole relay at a glance, for a viewer who sees every owner's jobs. */
  async overview(viewer: Viewer): Promise<OverviewView> {
    const { store, recent } = this.deps
    const now = this.deps.now()
    const [open, budget, dead] = await Promise.all([
      store.countOpenJobs(),
      this.budgetState(now),
      store.listJobs({ owner: undefined, statuses: ['dead'], limit: 5 }),
    ])
    const totals = recent.read()
    return {
      now,
      open: [
        { label: 'Queued', count: open.queued, href: '/console/jobs?status=queued', tone: 'wait' },
        { label: 'Processing', count: open.processing, href: '/console/jobs?status=processing', tone: 'run' },
        {
          label: 'Awaiting tools',
          count: open.awaiting_tool_results,
          href: '/console/jobs?status=awaiting_tool_results',
          tone: 'wait',
        },
        { label: 'Delivering', count: open.delivering, href: '/console/jobs?status=delivering', tone: 'run' },
      ],
      openTotal: open.queued + open.processing + open.awaiting_tool_results + open.delivering,
      recentSince: totals.since,
      recent: [
        { label: 'Accepted', count: totals.accepted, href: '/console/jobs', tone: 'info' },
        { label: 'Delivered', count: totals.delivered, href: '/console/jobs?status=delivered', tone: 'ok' },
        {
          label: 'Callback retries',
          count: totals.retries,
          href: '/console/jobs?status=delivering',
          tone: 'wait',
        },
        { label: 'Dead', count: totals.dead, href: '/console/dead', tone: 'fail' },
      ],
      llmErrors: [...totals.llmErrors]
        .sort((a, b) => b[1] - a[1])
        .map(([code, count]) => ({ code, description: describeError(code), count })),
      budget,
      deadLetters: dead.jobs.map((job) => jobRow(viewer, job)),
      livePath: '/console/overview/live',
    }
  }

  private async budgetState(now: number): Promise<OverviewView['budget']> {
    const { budget, llmMaxRpm } = this.deps
    const limit =
      llmMaxRpm > 0
        ? `At most ${llmMaxRpm} LLM calls start a minute (LLM_MAX_RPM).`
        : 'No limit on LLM calls.'
    const pauses = this.deps.pauses().filter((p) => p.until > now)
    if (pauses.length > 0) {
      const until = Math.max(...pauses.map((p) => p.until))
      const what = pauses.map((p) => (p.scope === 'account' ? 'the whole account' : (p.model ?? 'a model')))
      return {
        state: 'paused',
        tone: 'fail',
        text: `The LLM answered 429: calls to ${what.join(', ')} wait.`,
        until,
      }
    }
    const next = budget ? await budget.nextSlotAt(now) : undefined
    if (next === undefined || next <= now)
      return { state: llmMaxRpm > 0 ? 'free' : 'no limit', tone: 'ok', text: limit }
    // Past a minute away, only an account pause (kept by the budget, fleet-wide) can be holding it.
    if (next > now + WINDOW_MS)
      return { state: 'paused', tone: 'fail', text: 'A quota ran out: every LLM call waits.', until: next }
    return { state: 'full', tone: 'wait', text: `${limit} This minute’s calls are taken.`, until: next }
  }

  async job(viewer: Viewer, id: string): Promise<JobPageView | undefined> {
    const job = await this.findJob(viewer, id)
    if (!job) return undefined
    const deliveries = await this.deps.store.listDeliveryAttempts(job.id)
    const redeliverable = job.status === 'delivered' || job.status === 'dead'
    const cancellable = isCancellable(job.status)
    return {
      now: this.deps.now(),
      id: job.id,
      status: job.status,
      tone: toneOf(job.status),
      ...(viewer.kind === 'admin' ? { owner: job.owner } : {}),
      conversationId: job.conversationId,
      conversationHref: conversationHref(job.conversationId, job.owner, ownerScope(viewer) === undefined),
      sequence: job.sequence,
      message: job.message,
      response: job.response,
      error: job.error ? { ...job.error, description: describeError(job.error.code) } : null,
      model: job.model,
      usage: job.usage
        ? {
            prompt: job.usage.prompt_tokens,
            completion: job.usage.completion_tokens,
            total: job.usage.total_tokens,
          }
        : null,
      metadata: job.metadata === null ? null : JSON.stringify(job.metadata, null, 2),
      callbackUrl: job.callbackUrl,
      createdAt: job.createdAt,
      updatedAt: job.updatedAt,
      completedAt: job.completedAt,
      timeline: jobTimeline(job, deliveries),
      actions: {
        ...(redeliverable ? { redeliver: `${jobHref(job.id)}/redeliver` } : {}),
        ...(cancellable ? { cancel: `${jobHref(job.id)}/cancel` } : {}),
      },
      // Polled while it can still change by itself.
      ...(cancellable ? { livePath: `${jobHref(job.id)}/live` } : {}),
    }
  }

  async redeliver(viewer: Viewer, id: string): Promise<RedeliverResult> {
    const job = await this.findJob(viewer, id)
    if (!job) return 'not_found'
    const result = await this.deps.store.redeliver(job.id, job.owner, this.deps.now())
    if (result === 'scheduled') this.deps.wake()
    return result
  }

  /** Stops a job that is not finished; `finished` for a delivered or dead one (nothing to stop). */
  async cancel(
    viewer: Viewer,
    id: string,
  ): Promise<'cancelled' | 'already_cancelled' | 'finished' | 'not_found'> {
    const job = await this.findJob(viewer, id)
    if (!job) return 'not_found'
    const result = await this.deps.store.cancelJob(job.id, job.owner, this.deps.now())
    if (result.kind === 'cancelled') this.deps.onCancelled(result.job, result.from)
    return result.kind
  }

  /** "Redeliver all shown": each job on the page, one bounded call each (a page is at most 500). */
  async redeliverEach(viewer: Viewer, ids: readonly string[]): Promise<number> {
    let scheduled = 0
    for (const id of ids.slice(0, 500)) {
      const job = await this.findJob(viewer, id)
      if (job && (await this.deps.store.redeliver(job.id, job.owner, this.deps.now())) === 'scheduled')
        scheduled++
    }
    if (scheduled > 0) this.deps.wake()
    return scheduled
  }

  async conversation(
    viewer: Viewer,
    id: string,
    ownerAsked: string | undefined,
  ): Promise<ConversationPageView | undefined> {
    const owner = this.conversationOwner(viewer, ownerAsked)
    const messages = await this.deps.store.readConversation(owner, id)
    if (!messages) return undefined
    const named = ownerScope(viewer) === undefined
    return {
      now: this.deps.now(),
      id,
      ...(viewer.kind === 'admin' ? { owner } : {}),
      messages: messages.map((m) => ({
        role: m.role,
        content: m.content,
        jobId: m.jobId,
        jobHref: jobHref(m.jobId),
        at: m.createdAt,
      })),
      jobsHref: `/console/jobs?conversation_id=${encodeURIComponent(id)}`,
      forgetAction: forgetAction(id, owner, named),
    }
  }

  async forget(viewer: Viewer, id: string, ownerAsked: string | undefined): Promise<boolean> {
    const owner = this.conversationOwner(viewer, ownerAsked)
    return this.deps.store.deleteConversation(owner, id)
  }

  /** A client's conversations are its own; a viewer of every owner's names one (the link carries it). */
  private conversationOwner(viewer: Viewer, asked: string | undefined): string {
    return ownerScope(viewer) ?? asked ?? ''
  }

  /** A client finds only its own jobs; a viewer of every owner's finds any (a miss reads the same). */
  private async findJob(viewer: Viewer, id: string): Promise<Job | undefined> {
    if (id.length > 128) return undefined
    const owner = ownerScope(viewer) ?? (await this.deps.store.ownerOfJob(id))
    return owner === undefined ? undefined : this.deps.store.getJob(id, owner, this.deps.now())
  }
}

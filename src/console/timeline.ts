import type { JobStatus } from '../job.ts'
import type { DeliveryAttempt, Job } from '../store/store.ts'
import { duration } from './format.ts'
import type { TimelineEntry, Tone } from './views.ts'

const TONES: Record<JobStatus, Tone> = {
  queued: 'wait',
  processing: 'run',
  delivering: 'run',
  delivered: 'ok',
  dead: 'fail',
  cancelled: 'info',
  awaiting_tool_results: 'wait',
}

export function toneOf(status: JobStatus): Tone {
  return TONES[status] ?? 'info'
}

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`

function llmStage(job: Job): TimelineEntry {
  const attempts = plural(job.llmAttempts, 'LLM attempt')
  if (job.response !== null) {
    const tokens = job.usage ? ` · ${job.usage.total_tokens} tokens` : ''
    return { at: null, tone: 'ok', title: `Answered by ${job.model}`, detail: `${attempts}${tokens}` }
  }
  if (job.status === 'queued')
    return job.llmAttempts === 0
      ? {
          at: null,
          tone: 'wait',
          title: 'Waiting for the LLM',
          detail: 'in line behind earlier messages, or due',
        }
      : {
          at: null,
          tone: 'wait',
          title: `Waiting to ask the LLM again`,
          detail: `${attempts} so far`,
          ...(job.error ? { error: job.error } : {}),
        }
  if (job.status === 'processing')
    return { at: null, tone: 'run', title: 'Asking the LLM', detail: `attempt ${job.llmAttempts}` }
  if (job.status === 'cancelled')
    return { at: null, tone: 'info', title: 'Stopped before an answer', detail: `${attempts} started` }
  if (job.status === 'awaiting_tool_results')
    return {
      at: null,
      tone: 'wait',
      title: 'Waiting for tool results',
      detail: `the LLM asked for tools (${attempts} so far); POST /jobs/{id}/tool_results answers them`,
    }
  return {
    at: null,
    tone: 'fail',
    title: 'The LLM failed',
    detail: `${attempts}; the failure is delivered as job.failed`,
    ...(job.error ? { error: job.error } : {}),
  }
}

function deliveryEntry(d: DeliveryAttempt): TimelineEntry {
  const ok = d.error === null && d.statusCode !== null && d.statusCode >= 200 && d.statusCode < 300
  const answer = d.statusCode === null ? 'no answer' : `HTTP ${d.statusCode}`
  return {
    at: d.at,
    tone: ok ? 'ok' : 'fail',
    title: `Callback attempt ${d.attempt}`,
    detail: `${answer} in ${duration(d.durationMs)}`,
    ...(d.error ? { error: d.error } : {}),
  }
}

function ending(job: Job, attempts: number): TimelineEntry | undefined {
  if (job.status === 'delivered')
    return { at: job.completedAt, tone: 'ok', title: 'Delivered', detail: 'the callback answered 2xx' }
  if (job.status === 'dead')
    return {
      at: job.completedAt,
      tone: 'fail',
      title: 'Dead',
      detail: 'every callback attempt failed; Redeliver sends the stored result again',
    }
  if (job.status === 'cancelled')
    return {
      at: job.completedAt ?? job.updatedAt,
      tone: 'info',
      title: 'Cancelled',
      detail: 'no callback is sent for it; the conversation’s next message went on',
    }
  if (job.status === 'delivering')
    return attempts === 0
      ? { at: null, tone: 'run', title: 'Delivering', detail: 'first callback attempt' }
      : { at: null, tone: 'wait', title: 'Next callback attempt scheduled', detail: 'on the retry schedule' }
  return undefined
}

/**
 * A job's life in order: accepted, the LLM stage, every callback attempt, how it ended. The
 * store keeps each callback attempt with its time; of LLM attempts it keeps the count and the
 * last error, so the LLM stage is one entry.
 */
export function jobTimeline(job: Job, deliveries: readonly DeliveryAttempt[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [
    {
      at: job.createdAt,
      tone: 'info',
      title: 'Accepted',
      detail: `message #${job.sequence} of its conversation`,
    },
    llmStage(job),
    ...[...deliveries].sort((a, b) => a.attempt - b.attempt).map(deliveryEntry),
  ]
  const last = ending(job, deliveries.length)
  if (last) entries.push(last)
  return entries
}

import type { ErrorCode, JobStatus } from '../job.ts'

/*
 * What the operators' listing and recovery methods of the `Store` take and give. `owner`
 * undefined means every owner's jobs: an admin key, or a relay without API keys.
 */

/** A job's place in the listing order: newest first by acceptance time, then by acceptance order. */
export interface JobPosition {
  createdAt: number
  seq: number
}

export interface JobFilter {
  owner: string | undefined
  /** Any of these; empty or absent, every status. */
  statuses?: readonly JobStatus[]
  conversationId?: string
  /** Accepted at or after (epoch ms). */
  createdAfter?: number
  /** Accepted before (epoch ms). */
  createdBefore?: number
}

export interface JobListQuery extends JobFilter {
  /** A substring of the message, matched exactly (case-sensitive, byte for byte). */
  text?: string
  limit: number
  /** Continue after this position (from a previous page's `next`). */
  after?: JobPosition
}

export interface JobSummary {
  id: string
  owner: string
  conversationId: string
  sequence: number
  status: JobStatus
  model: string
  /** The first `MESSAGE_PREVIEW_CHARS` characters (code points) of the message. */
  messagePreview: string
  errorCode: ErrorCode | null
  llmAttempts: number
  deliveryAttempts: number
  createdAt: number
  updatedAt: number
  position: JobPosition
}

/**
 * `next` is where the following page starts, null at the end. With `text`, a page looks at
 * a bounded window of jobs, so it may hold fewer than `limit` (even none) and still have a `next`.
 */
export interface JobPage {
  jobs: JobSummary[]
  next: JobPosition | null
}

export const MESSAGE_PREVIEW_CHARS = 200

/** A conversation's place in the listing order: most recently active first. */
export interface ConversationPosition {
  lastMessageAt: number
  owner: string
  id: string
}

export interface ConversationListQuery {
  owner: string | undefined
  limit: number
  after?: ConversationPosition
}

export interface ConversationSummary {
  owner: string
  id: string
  /** Messages accepted in it: its latest sequence number (forgetting the history keeps it). */
  messages: number
  /** When its latest message was accepted. */
  lastMessageAt: number
  /** Accepted jobs not yet answered, failed or cancelled. */
  openJobs: number
  position: ConversationPosition
}

export interface ConversationPage {
  conversations: ConversationSummary[]
  next: ConversationPosition | null
}

/** Which finished jobs a bulk redelivery takes. */
export interface RedeliverFilter {
  owner: string | undefined
  status: 'dead' | 'delivered'
  conversationId?: string
  createdAfter?: number
  createdBefore?: number
}

export interface RedeliverMatchingResult {
  /** Jobs moved back to delivery by this call. */
  scheduled: number
  /** More jobs match: call again. */
  more: boolean
}

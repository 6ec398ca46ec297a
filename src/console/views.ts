/**
 * What each console page shows, as plain data: the service fills these in from the store and
 * the metrics, the pages render them. Decisions (which buttons, which tone, which link) are made
 * here in data, never in a template.
 */
import type { JobStatus } from '../job.ts'

export type Tone = 'ok' | 'fail' | 'wait' | 'run' | 'info'

/** The frame every page shares. */
export interface Chrome {
  title: string
  section: 'overview' | 'jobs' | 'dead' | 'conversations' | 'sign-in'
  /** The sections this viewer may open (none before signing in). */
  nav: { label: string; href: string; active: boolean }[]
  /** Who is looking, as the header shows it ('' when nobody is signed in). */
  viewer: string
  /** Without API keys the console is open to anyone who reaches it, and says so. */
  open: boolean
  signedIn: boolean
  csrf: string
  /** A line after an action, from a closed set of texts (never echoed from the request). */
  notice?: { tone: Tone; text: string }
  version: string
  /** The API docs, when DOCS_ENABLED serves them. */
  docsHref?: string
}

export interface Counted {
  label: string
  count: number
  href: string
  tone: Tone
}

export interface OverviewView {
  now: number
  /** Unfinished jobs by status, fleet-wide (the store's partial-index counts). */
  open: Counted[]
  openTotal: number
  /** Since when the recent counts run: an hour ago, or this process's start if later. */
  recentSince: number
  recent: Counted[]
  llmErrors: { code: string; description: string; count: number }[]
  budget: { state: 'free' | 'full' | 'paused' | 'no limit'; tone: Tone; text: string; until?: number }
  /** The newest dead jobs, the first place to look after a receiver outage. */
  deadLetters: JobRow[]
  livePath: string
}

export interface JobRow {
  id: string
  href: string
  status: JobStatus
  tone: Tone
  conversationId: string
  conversationHref: string
  /** Shown to admins, who see every client's jobs. */
  owner?: string
  message: string
  model: string
  errorCode?: string
  llmAttempts: number
  deliveryAttempts: number
  createdAt: number
  updatedAt: number
}

export interface Tab {
  label: string
  href: string
  active: boolean
  count?: number
  tone: Tone
}

export interface JobFilterForm {
  action: string
  /** The statuses the tabs chose: kept as the form filters by the other fields. */
  statuses: string[]
  conversationId: string
  q: string
  createdAfter: string
  createdBefore: string
}

export interface JobListView {
  now: number
  heading: string
  intro?: string
  tabs: Tab[]
  filter: JobFilterForm
  rows: JobRow[]
  showOwner: boolean
  /** Polled while this is the newest page; unset on older pages (they do not move). */
  livePath?: string
  newerHref?: string
  olderHref?: string
  /** Dead letters: one button sends every job on the page again. */
  bulk?: { action: string; ids: string[]; label: string }
  empty: string
}

export interface TimelineEntry {
  at: number | null
  tone: Tone
  title: string
  detail?: string
  error?: { code: string; message: string }
}

export interface JobPageView {
  now: number
  id: string
  status: JobStatus
  tone: Tone
  owner?: string
  conversationId: string
  conversationHref: string
  sequence: number
  message: string
  response: string | null
  error: { code: string; message: string; description: string } | null
  model: string
  usage: { prompt: number; completion: number; total: number } | null
  metadata: string | null
  callbackUrl: string
  createdAt: number
  updatedAt: number
  completedAt: number | null
  timeline: TimelineEntry[]
  actions: { redeliver?: string; cancel?: string }
  /** Polled while the job can still change. */
  livePath?: string
}

export interface ConversationPageView {
  now: number
  id: string
  owner?: string
  messages: { role: 'user' | 'assistant'; content: string; jobId: string; jobHref: string; at: number }[]
  jobsHref: string
  forgetAction: string
}

export interface ConversationRow {
  id: string
  href: string
  owner?: string
  messages: number
  openJobs: number
  lastMessageAt: number | null
}

export interface ConversationListView {
  now: number
  rows: ConversationRow[]
  showOwner: boolean
  olderHref?: string
  newerHref?: string
  empty: string
}

export interface SignInView {
  failed: boolean
  action: string
}

export interface MessageView {
  heading: string
  text: string
  back?: { href: string; label: string }
}

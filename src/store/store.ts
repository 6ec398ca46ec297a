// Longer than most files: the whole port of durable state, each method with the guarantee it gives.
import type { LlmParameters } from '../answer/parameters.ts'
import type { ToolResult, ToolRound } from '../answer/tool-rounds.ts'
import type { JobError, JobStatus, Usage } from '../job.ts'
import type { ClientStore } from './client-store.ts'
import type {
  ConversationListQuery,
  ConversationPage,
  JobListQuery,
  JobPage,
  RedeliverFilter,
  RedeliverMatchingResult,
} from './listing.ts'
import type { OriginStore } from './origin-store.ts'
import type { UsageStore } from './usage-store.ts'

/**
 * A fault of the database itself (disk full, I/O error, connection lost or refused): the
 * operation changed nothing and may be tried again later. HTTP answers it with 503 and
 * Retry-After; the worker keeps what it holds and retries the write.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}

/** An answer that missed its `response_format`, and what was wrong with it. */
export interface RejectedAnswer {
  answer: string
  problem: string
}

/** A job as the store keeps it. Times are epoch milliseconds. */
export interface Job {
  id: string
  owner: string
  conversationId: string
  sequence: number
  status: JobStatus
  message: string
  callbackUrl: string
  /** The client's `callback_headers`, sealed (src/data-encryption.ts); null without any. */
  callbackHeaders: string | null
  /** Their names, lower case: all that is ever shown of them. */
  callbackHeaderNames: string[]
  /** The model asked for (request or default) until answered, then the model that answered. */
  model: string
  systemPrompt: string
  metadata: Record<string, unknown> | null
  /** The request's `llm` object with LLM_TEMPERATURE and LLM_MAX_TOKENS filled in; null: none of them. */
  llm: LlmParameters | null
  response: string | null
  /** The answer parsed as JSON, for a JSON `response_format`; null otherwise. */
  output: unknown
  /** An answer that missed its format, kept for the one retry that shows it to the model. */
  rejected: RejectedAnswer | null
  /** The last prompt's tokens as the relay counted them (HISTORY_MAX_TOKENS); null: not counted. */
  promptTokens: number | null
  /** Each time the model called tools: the calls, and their results once sent; [] without tools. */
  toolRounds: ToolRound[]
  /** While `awaiting_tool_results`: when TOOL_RESULTS_TIMEOUT runs out. */
  toolResultsDueAt: number | null
  error: JobError | null
  /** Of every LLM call of the job together (each tool round's and the answer's). */
  usage: Usage | null
  /** LLM calls started for the job's current round (the answer, or the next tool calls). */
  llmAttempts: number
  deliveryAttempts: number
  /** Failed callback attempts since the last success or redelivery: the index into the retry schedule. */
  deliveryFailures: number
  /** The W3C trace context of the request that made it (opaque; src/telemetry reads it); null: not traced. */
  traceContext: string | null
  createdAt: number
  updatedAt: number
  completedAt: number | null
}

/** Jobs not yet delivered or dead; `queued` includes those waiting for their conversation's turn. */
export type OpenJobCounts = Record<'queued' | 'processing' | 'awaiting_tool_results' | 'delivering', number>

/**
 * The statuses counted from the five partial-index counts: every processing job holds a lease,
 * and every waiting job is queued.
 */
export function openJobCounts(c: {
  dueOrRunning: number
  waiting: number
  processing: number
  awaitingToolResults: number
  delivering: number
}): OpenJobCounts {
  return {
    queued: c.dueOrRunning - c.processing + c.waiting,
    processing: c.processing,
    awaiting_tool_results: c.awaitingToolResults,
    delivering: c.delivering,
  }
}

export interface NewJob {
  id: string
  owner: string
  conversationId: string
  message: string
  callbackUrl: string
  /** Sealed `callback_headers` and their names (see Job); none when left out. */
  callbackHeaders?: string | null
  callbackHeaderNames?: string[]
  model: string
  systemPrompt: string
  metadata: Record<string, unknown> | null
  llm?: LlmParameters | null
  idempotencyKey: string | null
  /** A hash of the request body, to tell a replay from a different body under the same key ('' without a key). */
  requestHash: string
  /** The trace context to keep with the job (tracing on): its attempts' spans continue that trace. */
  traceContext?: string | null
  now: number
  /**
   * A worker of this process with a free LLM slot: a job at the head of its conversation is
   * accepted already claimed by it (`accepted and claimed`, status `processing`); any other
   * is accepted as queued, and the worker's slot stays its own. `committed`, where the store
   * can tell: called with the job as soon as its accept is committed, before it is synced to
   * disk, so that a job that came leased starts its LLM call meanwhile (a power cut then loses
   * the job with its call, and no 202 was sent for it).
   */
  claimBy?: { workerId: string; leaseMs: number; committed?: (job: Job) => void }
}

export type AcceptResult =
  | { kind: 'created'; job: Job }
  | { kind: 'existing'; job: Job }
  | { kind: 'idempotency_conflict'; job: Job }

export interface DeliveryAttempt {
  attempt: number
  at: number
  statusCode: number | null
  error: JobError | null
  durationMs: number
}

export interface HistoryMessage {
  role: 'user' | 'assistant'
  content: string
  jobId: string
  createdAt: number
  /** Its tokens (with the per-message overhead), counted once as it joined history; absent: not counted. */
  tokens?: number
  /** On an answer reached through tools: the rounds of calls and results before it (its tokens count them). */
  toolRounds?: ToolRound[]
}

export interface Answer {
  response: string
  /** The parsed JSON of a JSON `response_format`; undefined for text. */
  output?: unknown
  model: string
  usage: Usage | null
  /** The prompt's tokens, and the two new history messages' own; null where not counted. */
  promptTokens?: number
  messageTokens?: { user: number; assistant: number }
}

/** The model's tool calls, as the round they open. */
export interface ToolCallsTurn {
  /** The job's rounds, the new one (without results) last. */
  rounds: ToolRound[]
  /** The job's usage so far, this call's included. */
  usage: Usage | null
  /** When TOOL_RESULTS_TIMEOUT runs out for them. */
  resultsDueAt: number
  /** The prompt's tokens as counted (HISTORY_MAX_TOKENS). */
  promptTokens?: number
}

export type SubmitToolResultsResult =
  | { kind: 'queued'; job: Job }
  | { kind: 'not_found' }
  /** The job waits for no results now (the current status, and its rounds, say why). */
  | { kind: 'not_awaiting'; job: Job }
  /** The results do not answer every call of the round exactly once. */
  | { kind: 'mismatch'; job: Job }

export interface ClaimRequest {
  workerId: string
  now: number
  leaseMs: number
  /** How many jobs may be claimed in all. */
  limit: number
  /** How many of them may need an LLM call (the rest are callback attempts). */
  llmLimit: number
  /** How many may be callback attempts; unset, as many as `limit` leaves. */
  deliveryLimit?: number
  /**
   * Fair share: the LLM stage first claims the head due job of each of these owners, one each,
   * in this order; then, with slots left, in due order as usual.
   */
  llmOwners?: readonly string[]
}

export type DeliveryOutcome =
  | { status: 'delivered' }
  | { status: 'delivering'; retryAt: number }
  | { status: 'dead' }

export type RedeliverResult = 'scheduled' | 'not_found' | 'not_finished'

export type CancellableStatus = 'queued' | 'processing' | 'awaiting_tool_results' | 'delivering'

/** The statuses `cancelJob` can stop; the rest are final. */
export const isCancellable = (status: string): status is CancellableStatus =>
  status === 'queued' ||
  status === 'processing' ||
  status === 'awaiting_tool_results' ||
  status === 'delivering'

/** What `cancelJob` did: the job as it stands now, and the status it was cancelled from. */
export type CancelResult =
  | { kind: 'cancelled'; job: Job; from: CancellableStatus }
  | { kind: 'already_cancelled'; job: Job }
  /** Delivered or dead: there is nothing left to stop. */
  | { kind: 'finished'; job: Job }
  | { kind: 'not_found' }

/**
 * The port every room uses for durable state. Each method is one transaction, and each
 * one that changes a job's status is a step of TRANSITIONS (src/job.ts), taken only from its
 * from-status; a method that takes a `workerId` only acts while that worker still holds the
 * job's lease. A fault of the database itself rejects with StoreUnavailableError.
 */
export interface Store {
  /** The clients table, on the same database. */
  readonly clients: ClientStore
  /** The callback origins' breakers, on the same database. */
  readonly origins: OriginStore
  /** What answers used, per day, owner and model, on the same database. */
  readonly usage: UsageStore
  acceptJob(job: NewJob): Promise<AcceptResult>
  /**
   * The job as it stands at `now`: a processing job whose lease ran out reads as `queued`
   * (claimable again, its attempt still counted); a dead job without an error of its own
   * shows its last delivery error.
   */
  getJob(id: string, owner: string, now: number): Promise<Job | undefined>
  listDeliveryAttempts(jobId: string): Promise<DeliveryAttempt[]>

  /** The owners with a job due for the LLM now (fair share takes turns among them). */
  dueLlmOwners(now: number): Promise<string[]>
  /** Claims due jobs under a lease: at most one per conversation for the LLM stage, the head of its line. */
  claimJobs(request: ClaimRequest): Promise<Job[]>
  renewLease(jobId: string, workerId: string, until: number): Promise<boolean>
  /**
   * Gives one job's lease back at once: a job in delivery waits for a free callback slot of
   * any worker; a job in the LLM stage goes back to the queue with its attempt given back.
   */
  releaseLease(jobId: string, workerId: string, now: number): Promise<boolean>
  /**
   * The callback (or the `job.tool_calls` event) may not go now (its origin is open or busy):
   * the job waits until `until` without an attempt made or counted, and its lease is given back.
   */
  deferDelivery(jobId: string, workerId: string, until: number, now: number): Promise<boolean>
  /** The newest `limit` messages of a conversation, oldest first. */
  readHistory(owner: string, conversationId: string, limit: number): Promise<HistoryMessage[]>
  /** Stores the answer and appends the user and assistant messages; the job moves on to delivery, still leased. */
  recordAnswer(jobId: string, workerId: string, answer: Answer, now: number): Promise<Job | undefined>
  /** Back to the queue until `retryAt`; `countAttempt: false` gives the attempt back (a quota wait). */
  recordLlmRetry(
    jobId: string,
    workerId: string,
    error: JobError,
    retryAt: number,
    countAttempt: boolean,
    now: number,
    /** An answer that missed its `response_format`: kept for the retry, which shows it to the model. */
    rejected?: RejectedAnswer,
  ): Promise<boolean>
  /** The job failed for good: it moves on to deliver `job.failed`, still leased; nothing joins history. */
  recordLlmFailure(jobId: string, workerId: string, error: JobError, now: number): Promise<Job | undefined>
  recordDeliveryAttempt(
    jobId: string,
    workerId: string,
    attempt: Omit<DeliveryAttempt, 'attempt'>,
    outcome: DeliveryOutcome,
  ): Promise<boolean>
  redeliver(jobId: string, owner: string, now: number): Promise<RedeliverResult>
  /**
   * The `cancelled` steps of TRANSITIONS: a queued, processing, awaiting or delivering job of `owner`
   * ends as `cancelled`, its lease taken from whoever holds it. Nothing joins history; a job
   * that had the turn of its conversation ends it (the next message released), one waiting
   * for its turn leaves the line.
   */
  cancelJob(jobId: string, owner: string, now: number): Promise<CancelResult>
  /**
   * Whether `workerId` still holds the job's lease: false once the job was cancelled or
   * claimed by another worker. A read, cheap enough to ask every second while an LLM call runs.
   */
  leaseHeld(jobId: string, workerId: string): Promise<boolean>
  /**
   * Of `ids`, those whose LLM stage is over for now: answered or failed (delivering,
   * delivered, dead), awaiting tool results, or cancelled; unknown ids are left out. One indexed read however many ids, asked once a
   * second while `Prefer: wait` requests wait for jobs another process may answer.
   */
  settledAmong(ids: readonly string[]): Promise<string[]>

  /** The model called tools: a new round stored; the job awaits their results, still leased for the event. */
  recordToolCalls(jobId: string, workerId: string, turn: ToolCallsTurn, now: number): Promise<Job | undefined>
  /**
   * One attempt of round `round`'s `job.tool_calls` event (refused once the job is past that
   * round); `dead`: the schedule ran out, it is not tried again.
   */
  recordToolCallsAttempt(
    jobId: string,
    workerId: string,
    round: number,
    attempt: Omit<DeliveryAttempt, 'attempt'>,
    outcome: DeliveryOutcome,
  ): Promise<boolean>
  /**
   * The client's results, stored with their round when they answer each pending call exactly
   * once; the job is queued again for the LLM in the same transaction.
   */
  submitToolResults(
    jobId: string,
    owner: string,
    results: readonly ToolResult[],
    now: number,
  ): Promise<SubmitToolResultsResult>
  /**
   * Fails the jobs whose tool results are due by `now` (`error`, then `job.failed` is delivered,
   * the conversation's next message released); how many. Reads only the due ones (an index).
   */
  expireToolResults(now: number, error: JobError): Promise<number>

  readConversation(owner: string, conversationId: string): Promise<HistoryMessage[] | undefined>
  deleteConversation(owner: string, conversationId: string): Promise<boolean>

  /**
   * Unfinished jobs by status, for the queue-depth metric. Each count reads one partial index,
   * so a scrape costs in proportion to the open jobs, never to the finished history kept for
   * RETENTION (finished jobs are counted by `llm_relay_jobs_finished_total`).
   */
  countOpenJobs(): Promise<OpenJobCounts>
  /** Deletes delivered, dead and cancelled jobs (and their attempts) last changed before `before`. */
  purgeFinishedJobs(before: number): Promise<number>
  /** Deletes history messages created before `before` (HISTORY_RETENTION). */
  purgeHistory(before: number): Promise<number>
  /** Periodic upkeep of the database itself (statistics, WAL). */
  maintain(): Promise<void>

  /** The earliest future time a job becomes due or a lease runs out, for the worker's timer. */
  nextWakeAt(now: number): Promise<number | undefined>
  /** Gives back every lease a worker holds, so others take its jobs at once (shutdown). */
  releaseLeases(workerId: string, now: number): Promise<number>
  /**
   * This worker is alive (PostgreSQL: its row in `instances`; a gap longer than `silentForMs`
   * since its last heartbeat starts its unbroken run again). False for its first heartbeat,
   * and when it had been presumed dead: its leases were released, and others may be running
   * its jobs.
   */
  heartbeat(workerId: string, now: number, silentForMs: number): Promise<boolean>
  /**
   * Expires at once the leases of workers known to be dead, so their jobs need not wait out
   * JOB_LEASE; the attempts stay counted. SQLite: on the first call, every lease held when no
   * other process is alive on the file. PostgreSQL: the leases of instances whose heartbeat
   * is older than `silentForMs`, whose rows it deletes, and only when `workerId` has itself
   * beaten without a gap for that long (after a database outage every heartbeat is old).
   * Idempotent; never a live worker's.
   */
  recoverAbandonedLeases(workerId: string, now: number, silentForMs: number): Promise<number>
  /**
   * Calls `onWake` when another process commits work this one could take (PostgreSQL's
   * LISTEN/NOTIFY). Absent where one process owns the database: its own wake-ups suffice.
   */
  listen?(onWake: () => void): Promise<() => Promise<void>>

  // Operators: list, find and recover (src/store/listing.ts). A page reads O(limit) index
  // entries a stream (an owner's status or conversation), however many jobs are kept.
  /** Jobs newest first, filtered; keyset pages that stay stable while jobs are accepted. */
  listJobs(query: JobListQuery): Promise<JobPage>
  /** Conversations, most recently active (a message accepted) first. */
  listConversations(query: ConversationListQuery): Promise<ConversationPage>
  /**
   * Schedules up to `limit` matching finished jobs for redelivery, as `redeliver` does each
   * one; `more` says whether matching jobs remain. Repeating it takes the next ones.
   */
  redeliverMatching(filter: RedeliverFilter, limit: number, now: number): Promise<RedeliverMatchingResult>
  /** Whose job this is, for an operator acting on any owner's job; undefined if there is none. */
  ownerOfJob(id: string): Promise<string | undefined>

  /** Whether the store can accept work now: false on a database fault, never a hang. */
  ping(): Promise<boolean>
  close(): Promise<void>
}

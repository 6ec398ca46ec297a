/*
 * Over the ~250 lines of most files here, on purpose: this is the whole Store port for
 * SQLite, one short method per port method, and each transaction must stay in one place to be
 * read as one. The SQL lives in sqlite-statements.ts, the migrations and the row mapping in
 * files of their own.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { answersExactly, pendingCalls, type ToolResult, withResults } from '../answer/tool-rounds.ts'
import { type Clock, systemClock } from '../clock.ts'
import type { JobError } from '../job.ts'
import type { ClientStore } from './client-store.ts'
import { readConversationPage } from './conversation-listing.ts'
import { sqliteFault } from './faults.ts'
import { GroupCommit } from './group-commit.ts'
import { readJobPage, redeliverMatchingSteps } from './job-listing.ts'
import type {
  ConversationListQuery,
  ConversationPage,
  JobListQuery,
  JobPage,
  RedeliverFilter,
  RedeliverMatchingResult,
} from './listing.ts'
import { type ListingDialect, type RunStatement, runStepsNow } from './listing-sql.ts'
import { type OriginStore, originOf } from './origin-store.ts'
import {
  acceptedRow,
  type DeliveryAttemptRow,
  deliveryAttemptFromRow,
  type JobRow,
  jobAsOf,
  jobFromRow,
  type MessageRow,
  messageFromRow,
} from './rows.ts'
import { SqliteClientStore } from './sqlite-clients.ts'
import { StoreDatabase } from './sqlite-database.ts'
import { migrateSqlite } from './sqlite-migrations.ts'
import { SqliteOriginStore } from './sqlite-origins.ts'
import { SqlitePresence } from './sqlite-presence.ts'
import { SQLITE_STATEMENTS as SQL } from './sqlite-statements.ts'
import { SqliteUsageStore } from './sqlite-usage.ts'
import {
  type AcceptResult,
  type Answer,
  type CancelResult,
  type ClaimRequest,
  type DeliveryAttempt,
  type DeliveryOutcome,
  type HistoryMessage,
  isCancellable,
  type Job,
  type NewJob,
  type OpenJobCounts,
  openJobCounts,
  type RedeliverResult,
  type RejectedAnswer,
  type Store,
  StoreUnavailableError,
  type SubmitToolResultsResult,
  type ToolCallsTurn,
} from './store.ts'
import { type UsageStore, usageValues } from './usage-store.ts'
import { WalSync } from './wal-sync.ts'

type Param = string | number | null

const CANCELLED_FROM = {
  queued: SQL.cancelledFromQueued,
  processing: SQL.cancelledFromProcessing,
  awaiting_tool_results: SQL.cancelledFromAwaitingToolResults,
  delivering: SQL.cancelledFromDelivering,
} as const

export interface SqliteStoreOptions {
  clock?: Clock
  /** How long a write waits for another process's write lock before it fails as unavailable. */
  busyTimeoutMs?: number
}

export const SQLITE_LISTING: ListingDialect = {
  placeholder: (n) => `?${n}`,
  messageContains: (p) => `instr(message, ${p}) > 0`,
  searchValue: (text) => text,
  // substr counts characters in TEXT.
  messageHead: (chars) => `substr(message, 1, ${chars})`,
  // One writer at a time: the rows it reads are the rows it writes.
  lockedForUpdate: (select) => select,
  binary: (column) => column,
}

/**
 * The embedded default: one SQLite file in WAL mode. Every write is atomic on its own (a
 * savepoint) inside an IMMEDIATE transaction shared by the writes of one event-loop turn
 * (group commit), so two processes sharing the file still claim safely.
 */
export class SqliteStore implements Store {
  private readonly db: StoreDatabase
  private readonly writes: GroupCommit
  private readonly wal: WalSync | undefined
  private readonly clock: Clock
  private presence: SqlitePresence | undefined
  readonly clients: ClientStore
  readonly origins: OriginStore
  readonly usage: UsageStore

  constructor(
    private readonly path: string,
    options: SqliteStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
      this.db = new StoreDatabase(path, { create: true, strict: true })
      this.db.exec('PRAGMA journal_mode = WAL')
      // NORMAL: a commit writes the WAL without syncing it; the group commit syncs it off the
      // event loop before a write that must survive a power cut (an accept, an answer) is
      // acknowledged, and the others do not wait for the disk.
      this.db.exec('PRAGMA synchronous = NORMAL')
      this.db.exec(`PRAGMA busy_timeout = ${Math.round(options.busyTimeoutMs ?? 5000)}`)
      migrateSqlite(this.db, this.clock.now())
      this.wal = path === ':memory:' ? undefined : new WalSync(path)
    } catch (error) {
      throw sqliteFault(error)
    }
    this.writes = new GroupCommit(this.db, this.wal)
    this.clients = new SqliteClientStore(this.db, this.writes)
    this.origins = new SqliteOriginStore(this.db, this.writes)
    this.usage = new SqliteUsageStore(this.db, this.writes)
  }

  /** Reads run on the spot, after the writes asked for before them; a database fault becomes StoreUnavailableError. */
  private async read<T>(work: () => T): Promise<T> {
    await this.writes.flushed()
    try {
      return work()
    } catch (error) {
      throw sqliteFault(error)
    }
  }

  private all<R>(sql: string, ...params: Param[]): R[] {
    return this.db.query<R, Param[]>(sql).all(...params)
  }

  private one<R>(sql: string, ...params: Param[]): R | undefined {
    return this.db.query<R, Param[]>(sql).get(...params) ?? undefined
  }

  private changes(sql: string, ...params: Param[]): number {
    return this.db.query<never, Param[]>(sql).run(...params).changes
  }

  private jobBy(sql: string, ...params: Param[]): Job | undefined {
    const row = this.one<JobRow>(sql, ...params)
    return row ? jobFromRow(row) : undefined
  }

  async acceptJob(job: NewJob): Promise<AcceptResult> {
    return this.writes.run(() => this.accepted(job), 'synced', this.whenCommitted(job))
  }

  /** The accept's transaction: an Idempotency-Key replay, or the conversation's next turn and its job. */
  private accepted(job: NewJob): AcceptResult {
    if (job.idempotencyKey !== null) {
      const row = this.one<JobRow & { request_hash: string }>(
        SQL.findByIdempotencyKey,
        job.owner,
        job.idempotencyKey,
      )
      if (row) {
        const kind = row.request_hash === job.requestHash ? 'existing' : 'idempotency_conflict'
        return { kind, job: jobFromRow(row) }
      }
    }
    const turn = this.one<{ last_sequence: number; open_jobs: number }>(
      SQL.openConversationTurn,
      job.owner,
      job.conversationId,
      job.now,
    )
    if (!turn) throw new Error('conversation upsert returned nothing')
    // Claimed at once only as the head of its line: one job per conversation at a time.
    const lease = job.claimBy && turn.open_jobs === 1 ? job.claimBy : undefined
    const leaseUntil = lease && job.now + lease.leaseMs
    const row = acceptedRow(job, turn.last_sequence, leaseUntil)
    this.changes(
      lease ? SQL.acceptedAndClaimed : SQL.accepted,
      job.id,
      job.owner,
      job.conversationId,
      turn.last_sequence,
      turn.open_jobs > 1 ? 1 : 0,
      job.now,
      job.message,
      job.callbackUrl,
      job.model,
      job.systemPrompt,
      row.metadata,
      job.idempotencyKey,
      job.requestHash,
      row.llm_parameters,
      row.trace_context ?? null,
      row.callback_headers,
      row.callback_header_names,
      originOf(job.callbackUrl),
      ...(lease ? [lease.workerId, leaseUntil as number] : []),
    )
    return { kind: 'created', job: jobFromRow(row) }
  }

  /** A claim at accept hears of its job once committed, while the WAL is synced (NewJob.claimBy). */
  private whenCommitted(job: NewJob): ((result: AcceptResult) => void) | undefined {
    const committed = job.claimBy?.committed
    return committed && ((result) => result.kind === 'created' && committed(result.job))
  }

  async getJob(id: string, owner: string, now: number): Promise<Job | undefined> {
    return this.read(() => {
      const row = this.one<JobRow>(SQL.jobById, id, owner)
      return row ? jobAsOf(row, now) : undefined
    })
  }

  async listDeliveryAttempts(jobId: string): Promise<DeliveryAttempt[]> {
    return this.read(() =>
      this.all<DeliveryAttemptRow>(SQL.deliveryAttempts, jobId).map(deliveryAttemptFromRow),
    )
  }

  async claimJobs(r: ClaimRequest): Promise<Job[]> {
    const until = r.now + r.leaseMs
    return this.writes.run((): Job[] => {
      const claimed: JobRow[] = []
      const llmLimit = Math.min(r.limit, r.llmLimit)
      for (const owner of llmLimit > 0 ? (r.llmOwners ?? []) : []) {
        if (claimed.length >= llmLimit) break
        claimed.push(...this.all<JobRow>(SQL.claimLlmHeadOf, r.workerId, until, r.now, owner))
      }
      if (llmLimit > claimed.length && this.isDue(SQL.llmDue, r.now))
        claimed.push(
          ...this.all<JobRow>(SQL.claimLlmStage, r.workerId, until, r.now, llmLimit - claimed.length),
        )
      let deliveryLimit = Math.min(r.limit - claimed.length, r.deliveryLimit ?? Number.POSITIVE_INFINITY)
      if (deliveryLimit > 0 && this.isDue(SQL.deliveryDue, r.now)) {
        const rows = this.all<JobRow>(SQL.claimDeliveryStage, r.workerId, until, r.now, deliveryLimit)
        claimed.push(...rows)
        deliveryLimit -= rows.length
      }
      // The job.tool_calls events take the callback slots the callbacks due left.
      if (deliveryLimit > 0 && this.isDue(SQL.toolCallsDue, r.now))
        claimed.push(...this.all<JobRow>(SQL.claimToolCallsEvent, r.workerId, until, r.now, deliveryLimit))
      return claimed.map(jobFromRow)
    }, 'committed')
  }

  async dueLlmOwners(now: number): Promise<string[]> {
    return this.read(() => this.all<{ owner: string }>(SQL.dueLlmOwners, now).map((r) => r.owner))
  }

  private isDue(sql: string, now: number): boolean {
    return this.one<{ due: number }>(sql, now)?.due === 1
  }

  async renewLease(jobId: string, workerId: string, until: number): Promise<boolean> {
    return this.writes.run(() => this.changes(SQL.renewLease, until, jobId, workerId) === 1, 'committed')
  }

  async releaseLease(jobId: string, workerId: string, now: number): Promise<boolean> {
    return this.writes.run(() => this.changes(SQL.leaseReleased, now, jobId, workerId) === 1, 'committed')
  }

  async deferDelivery(jobId: string, workerId: string, until: number, now: number): Promise<boolean> {
    return this.writes.run(() => this.changes(SQL.deliveryDeferred, until, now, jobId, workerId) === 1)
  }

  async readHistory(owner: string, conversationId: string, limit: number): Promise<HistoryMessage[]> {
    if (limit <= 0) return []
    return this.read(() =>
      this.all<MessageRow>(SQL.readHistory, owner, conversationId, limit).reverse().map(messageFromRow),
    )
  }

  /**
   * The conversation's turn is over: let its next waiting message go. Every open job but the
   * head waits, so with none left open no one waits, and the search for the next is skipped
   * (the common case: a conversation with nothing queued behind its answer).
   */
  private endTurn(job: Pick<Job, 'owner' | 'conversationId'>): void {
    const left = this.one<{ open_jobs: number }>(SQL.endTurn, job.owner, job.conversationId)
    if (left === undefined || left.open_jobs > 0) this.changes(SQL.nextInLine, job.owner, job.conversationId)
  }

  async recordAnswer(jobId: string, workerId: string, answer: Answer, now: number): Promise<Job | undefined> {
    return this.writes.run((): Job | undefined => {
      const usage = answer.usage === null ? null : JSON.stringify(answer.usage)
      const output = answer.output === undefined ? null : JSON.stringify(answer.output)
      const job = this.jobBy(
        SQL.answered,
        answer.response,
        answer.model,
        usage,
        now,
        jobId,
        workerId,
        output,
        answer.promptTokens ?? null,
      )
      if (!job) return undefined
      const tokens = answer.messageTokens
      this.changes(
        SQL.appendHistory,
        job.owner,
        job.conversationId,
        'user',
        job.message,
        job.id,
        job.createdAt,
        tokens?.user ?? null,
        null,
      )
      this.changes(
        SQL.appendHistory,
        job.owner,
        job.conversationId,
        'assistant',
        answer.response,
        job.id,
        now,
        tokens?.assistant ?? null,
        job.toolRounds.length === 0 ? null : JSON.stringify(job.toolRounds),
      )
      this.changes(SQL.usageCounted, ...usageValues(job.owner, answer, now))
      this.endTurn(job)
      return job
    })
  }

  async recordLlmRetry(
    jobId: string,
    workerId: string,
    error: JobError,
    retryAt: number,
    countAttempt: boolean,
    now: number,
    rejected?: RejectedAnswer,
  ): Promise<boolean> {
    const givenBack = countAttempt ? 0 : 1
    const kept = rejected === undefined ? null : JSON.stringify(rejected)
    return this.writes.run(
      () =>
        this.changes(
          SQL.llmRetry,
          retryAt,
          error.code,
          error.message,
          givenBack,
          now,
          jobId,
          workerId,
          kept,
        ) === 1,
      'committed',
    )
  }

  async recordLlmFailure(
    jobId: string,
    workerId: string,
    error: JobError,
    now: number,
  ): Promise<Job | undefined> {
    return this.writes.run((): Job | undefined => {
      const job = this.jobBy(SQL.llmFailed, error.code, error.message, now, jobId, workerId)
      if (job) this.endTurn(job)
      return job
    })
  }

  async recordDeliveryAttempt(
    jobId: string,
    workerId: string,
    attempt: Omit<DeliveryAttempt, 'attempt'>,
    outcome: DeliveryOutcome,
  ): Promise<boolean> {
    return this.writes.run((): boolean => {
      const row =
        outcome.status === 'delivering'
          ? this.one<{ delivery_attempts: number }>(
              SQL.deliveryRetry,
              attempt.at,
              jobId,
              workerId,
              outcome.retryAt,
            )
          : this.one<{ delivery_attempts: number }>(SQL[outcome.status], attempt.at, jobId, workerId)
      if (!row) return false
      this.insertAttempt(jobId, row.delivery_attempts, attempt)
      return true
    }, 'committed')
  }

  private insertAttempt(jobId: string, number: number, attempt: Omit<DeliveryAttempt, 'attempt'>): void {
    this.changes(
      SQL.insertDeliveryAttempt,
      jobId,
      number,
      attempt.at,
      attempt.statusCode,
      attempt.error?.code ?? null,
      attempt.error?.message ?? null,
      attempt.durationMs,
    )
  }

  async redeliver(jobId: string, owner: string, now: number): Promise<RedeliverResult> {
    return this.writes.run((): RedeliverResult => {
      if (this.changes(SQL.redelivered, now, jobId, owner) === 1) return 'scheduled'
      return this.one(SQL.jobExists, jobId, owner) ? 'not_finished' : 'not_found'
    })
  }

  async cancelJob(jobId: string, owner: string, now: number): Promise<CancelResult> {
    return this.writes.run((): CancelResult => {
      const target = this.one<{ status: string; waiting: number }>(SQL.cancelTarget, jobId, owner)
      if (!target) return { kind: 'not_found' }
      const from = target.status
      if (!isCancellable(from)) {
        const job = this.jobBy(SQL.jobById, jobId, owner)
        if (!job) throw new Error(`job ${jobId} vanished inside its transaction`)
        return from === 'cancelled' ? { kind: 'already_cancelled', job } : { kind: 'finished', job }
      }
      const job = this.jobBy(CANCELLED_FROM[from], now, jobId, owner)
      if (!job) throw new Error(`job ${jobId} was not ${from} inside its transaction`)
      // A job waiting its turn leaves the line; one that had the turn ends it. A delivering
      // job ended its turn when it was answered or failed.
      if (from === 'queued' && target.waiting === 1) this.changes(SQL.endTurn, job.owner, job.conversationId)
      else if (from !== 'delivering') this.endTurn(job)
      return { kind: 'cancelled', job, from }
    })
  }

  async leaseHeld(jobId: string, workerId: string): Promise<boolean> {
    return this.read(() => this.one(SQL.leaseHeld, jobId, workerId) !== undefined)
  }

  async recordToolCalls(
    jobId: string,
    workerId: string,
    turn: ToolCallsTurn,
    now: number,
  ): Promise<Job | undefined> {
    return this.writes.run((): Job | undefined => {
      return this.jobBy(
        SQL.toolCalls,
        JSON.stringify(turn.rounds),
        turn.usage === null ? null : JSON.stringify(turn.usage),
        turn.resultsDueAt,
        turn.promptTokens ?? null,
        now,
        jobId,
        workerId,
      )
    })
  }

  async recordToolCallsAttempt(
    jobId: string,
    workerId: string,
    round: number,
    attempt: Omit<DeliveryAttempt, 'attempt'>,
    outcome: DeliveryOutcome,
  ): Promise<boolean> {
    return this.writes.run((): boolean => {
      const statement =
        outcome.status === 'delivering'
          ? SQL.toolCallsRetry
          : outcome.status === 'delivered'
            ? SQL.toolCallsDelivered
            : SQL.toolCallsGivenUp
      const values: Param[] = [attempt.at, jobId, workerId, round]
      if (outcome.status === 'delivering') values.push(outcome.retryAt)
      const row = this.one<{ delivery_attempts: number }>(statement, ...values)
      if (!row) return false
      this.insertAttempt(jobId, row.delivery_attempts, attempt)
      return true
    })
  }

  async submitToolResults(
    jobId: string,
    owner: string,
    results: readonly ToolResult[],
    now: number,
  ): Promise<SubmitToolResultsResult> {
    return this.writes.run((): SubmitToolResultsResult => {
      const found = this.jobBy(SQL.jobById, jobId, owner)
      if (!found) return { kind: 'not_found' }
      if (found.status !== 'awaiting_tool_results') return { kind: 'not_awaiting', job: found }
      if (!answersExactly(pendingCalls(found.toolRounds), results)) return { kind: 'mismatch', job: found }
      const rounds = withResults(found.toolRounds, results, now)
      const job = this.jobBy(SQL.toolResultsSubmitted, JSON.stringify(rounds), now, jobId, owner)
      if (!job) throw new Error('the job awaiting tool results could not be queued')
      return { kind: 'queued', job }
    })
  }

  async expireToolResults(now: number, error: JobError): Promise<number> {
    if (!(await this.read(() => this.isDue(SQL.toolResultsDue, now)))) return 0
    return this.writes.run((): number => {
      const expired = this.all<{ id: string; owner: string; conversation_id: string }>(
        SQL.toolResultsTimedOut,
        error.code,
        error.message,
        now,
      )
      for (const job of expired) this.endTurn({ owner: job.owner, conversationId: job.conversation_id })
      return expired.length
    })
  }

  async settledAmong(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return []
    return this.read(() => this.all<{ id: string }>(SQL.settledAmong, JSON.stringify(ids)).map((r) => r.id))
  }

  /** Undefined for a conversation with no history and nothing in line. */
  async readConversation(owner: string, conversationId: string): Promise<HistoryMessage[] | undefined> {
    return this.read(() => {
      const messages = this.all<MessageRow>(SQL.readConversation, owner, conversationId).map(messageFromRow)
      if (messages.length > 0) return messages
      return this.one(SQL.hasOpenJobs, owner, conversationId) ? [] : undefined
    })
  }

  /**
   * Forgets the history. The conversation's counters stay, so sequence numbers keep rising
   * and messages still in line keep their order.
   */
  async deleteConversation(owner: string, conversationId: string): Promise<boolean> {
    return this.writes.run(
      (): boolean =>
        this.changes(SQL.deleteHistory, owner, conversationId) > 0 ||
        this.one(SQL.hasOpenJobs, owner, conversationId) !== undefined,
    )
  }

  async countOpenJobs(): Promise<OpenJobCounts> {
    return this.read(() => {
      const row = this.one<{
        dueOrRunning: number
        waiting: number
        processing: number
        awaitingToolResults: number
        delivering: number
      }>(SQL.countOpen)
      if (!row) throw new Error('the open-job count returned nothing')
      return openJobCounts(row)
    })
  }

  async purgeFinishedJobs(before: number): Promise<number> {
    return this.writes.run((): number => {
      this.changes(SQL.purgeFinishedAttempts, before)
      return this.changes(SQL.purgeFinishedJobs, before)
    }, 'committed')
  }

  async purgeHistory(before: number): Promise<number> {
    return this.writes.run(() => this.changes(SQL.purgeHistory, before), 'committed')
  }

  async maintain(): Promise<void> {
    return this.read(() => {
      this.db.exec('PRAGMA optimize')
      this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
    })
  }

  async nextWakeAt(now: number): Promise<number | undefined> {
    return this.read(() => this.one<{ at: number | null }>(SQL.nextWakeAt, now)?.at ?? undefined)
  }

  async releaseLeases(workerId: string, now: number): Promise<number> {
    return this.writes.run(() => this.changes(SQL.leasesReleased, now, workerId), 'committed')
  }

  // Operators: list, find and recover (src/store/job-listing.ts, conversation-listing.ts).

  private readonly runListing: RunStatement = async (s) => {
    try {
      return this.all<Record<string, unknown>>(s.sql, ...(s.values as Param[]))
    } catch (error) {
      throw sqliteFault(error)
    }
  }

  async listJobs(query: JobListQuery): Promise<JobPage> {
    await this.writes.flushed()
    return readJobPage(this.runListing, SQLITE_LISTING, query)
  }

  async listConversations(query: ConversationListQuery): Promise<ConversationPage> {
    await this.writes.flushed()
    return readConversationPage(this.runListing, SQLITE_LISTING, query)
  }

  async redeliverMatching(
    filter: RedeliverFilter,
    limit: number,
    now: number,
  ): Promise<RedeliverMatchingResult> {
    return this.writes.run(() =>
      runStepsNow(
        redeliverMatchingSteps(SQLITE_LISTING, filter, limit, now),
        (s) => this.all<Record<string, unknown>>(s.sql, ...(s.values as Param[])),
        (s) => this.changes(s.sql, ...(s.values as Param[])),
      ),
    )
  }

  async ownerOfJob(id: string): Promise<string | undefined> {
    return this.read(() => this.one<{ owner: string }>(SQL.jobOwner, id)?.owner)
  }

  /** One process on a file has no fleet to report to: its presence lock says it is alive. */
  async heartbeat(_workerId: string, _now: number, _silentForMs: number): Promise<boolean> {
    return true
  }

  /**
   * On the first call, takes this process's presence lock (sqlite-presence.ts). Taken while
   * no other worker is alive, every lease not `workerId`'s belongs to a process that died:
   * they are expired at once. Later calls, and a process that found another alive, release
   * nothing: a lease of a live process is never taken from it.
   */
  async recoverAbandonedLeases(workerId: string, now: number, _silentForMs: number): Promise<number> {
    if (this.presence !== undefined || this.path === ':memory:') return 0
    const presence = new SqlitePresence(this.path)
    this.presence = presence
    try {
      return presence.alone
        ? await this.writes.run(() => this.changes(SQL.leasesExpired, now, workerId), 'committed')
        : 0
    } finally {
      presence.share()
    }
  }

  /** A real write: a full disk, an I/O error or a lock held past the timeout make it false. */
  async ping(): Promise<boolean> {
    try {
      return await this.writes.run(() => this.changes(SQL.readinessChecked, this.clock.now()) === 1)
    } catch (error) {
      if (error instanceof StoreUnavailableError) return false
      throw error
    }
  }

  async close(): Promise<void> {
    this.writes.commit()
    await this.wal?.close()
    this.presence?.close()
    this.db.close()
  }
}

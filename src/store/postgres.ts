/*
 * Over the ~250 lines of most files here, on purpose: this is the whole Store port for
 * PostgreSQL, one short method per port method, and each transaction must stay in one place to be
 * read as one. The SQL lives in postgres-statements.ts, the migrations and the row mapping in
 * files of their own.
 */
import { SQL, type TransactionSQL } from 'bun'
import { answersExactly, pendingCalls, type ToolResult, withResults } from '../answer/tool-rounds.ts'
import { type Clock, systemClock, type Timer } from '../clock.ts'
import type { JobError } from '../job.ts'
import type { ClientStore } from './client-store.ts'
import { readConversationPage } from './conversation-listing.ts'
import { postgresFault } from './faults.ts'
import { readJobPage, redeliverMatchingSteps } from './job-listing.ts'
import type {
  ConversationListQuery,
  ConversationPage,
  JobListQuery,
  JobPage,
  RedeliverFilter,
  RedeliverMatchingResult,
} from './listing.ts'
import { type ListingDialect, type RunStatement, runSteps } from './listing-sql.ts'
import { type OriginStore, originOf } from './origin-store.ts'
import { PostgresClientStore } from './postgres-clients.ts'
import { migratePostgres } from './postgres-migrations.ts'
import { PostgresOriginStore } from './postgres-origins.ts'
import {
  bytes,
  decoded,
  diagnostic,
  jobFromPg,
  messageFromPg,
  type PgJobRow,
  type PgMessageRow,
  type Rows,
  replayOf,
} from './postgres-rows.ts'
import { POSTGRES_STATEMENTS as S } from './postgres-statements.ts'
import { PostgresUsageStore } from './postgres-usage.ts'
import { type DeliveryAttemptRow, deliveryAttemptFromRow, jobAsOf } from './rows.ts'
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

/** Every instance listens here; a notification means "something may have become due". */
export const WAKE_CHANNEL = 'llm_relay_wake'

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** How long ping() waits for `SELECT 1` before it says the database is not there. */
const PING_TIMEOUT_MS = 2000

export const POSTGRES_LISTING: ListingDialect = {
  placeholder: (n) => `$${n}`,
  // Byte for byte on the UTF-8 BYTEA, which matches whole characters: UTF-8 is self-synchronizing.
  messageContains: (p) => `position(${p}::bytea in message) > 0`,
  searchValue: bytes,
  // Bytes, not characters: 4 per character at most, so `chars` of them always fit.
  messageHead: (chars) => `substring(message from 1 for ${chars * 4})`,
  // Locked as selected, and re-checked once locked (READ COMMITTED): a row another
  // transaction holds (a concurrent bulk redelivery, a purge) is left to it.
  lockedForUpdate: (select) => `${select} FOR UPDATE SKIP LOCKED`,
  binary: (column) => `${column} COLLATE "C"`,
}

/** Another accept with the same idempotency key committed first: roll back and answer with its job. */
class IdempotencyRace extends Error {
  override name = 'IdempotencyRace'
}

/** The conversation row of a job waiting its turn is held by another transaction: try the cancel again. */
class ConversationBusy extends Error {
  override name = 'ConversationBusy'
}

/** Tries of a cancel refused its conversation row, each a round trip, before it gives up. */
const CANCEL_TRIES = 50

const CANCELLED_FROM = {
  queued: S.cancelledFromQueued,
  processing: S.cancelledFromProcessing,
  awaiting_tool_results: S.cancelledFromAwaitingToolResults,
  delivering: S.cancelledFromDelivering,
} as const

/** Runs one named statement with bound values (`unsafe` only means the text is not a template). */
const run = <R>(db: SQL, text: string, values: unknown[] = []): Promise<Rows<R>> =>
  db.unsafe<Rows<R>>(text, values)

/**
 * The store for many instances: PostgreSQL through Bun's pooled `SQL` client. Every write
 * is one statement or one READ COMMITTED transaction. Claims lock the rows they take
 * (`FOR UPDATE SKIP LOCKED`), so instances claiming at the same instant take different
 * jobs; per-conversation order rests on the `conversations` row lock (see `endTurn`).
 */
export class PostgresStore implements Store {
  private readonly subscriptions = new Set<SQL.ListenSubscription>()

  readonly clients: ClientStore
  readonly origins: OriginStore
  readonly usage: UsageStore

  private constructor(
    private readonly sql: SQL,
    private readonly clock: Clock,
  ) {
    this.clients = new PostgresClientStore(sql)
    this.origins = new PostgresOriginStore(sql, WAKE_CHANNEL)
    this.usage = new PostgresUsageStore(sql)
  }

  /**
   * Connects a pool and migrates. With `schema`, every pooled connection starts with that
   * `search_path`, and the schema is created if missing.
   */
  static async open(
    url: string,
    options: { max?: number; schema?: string; clock?: Clock } = {},
  ): Promise<PostgresStore> {
    const { schema } = options
    const clock = options.clock ?? systemClock
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw new Error(`invalid PostgreSQL schema name "${schema}": use a-z, 0-9 and _`)
    }
    const sql = new SQL(url, {
      max: options.max ?? 10,
      ...(schema === undefined ? {} : { connection: { search_path: schema } }),
    })
    try {
      await migratePostgres(sql, schema, clock.now())
    } catch (error) {
      await sql.close()
      throw postgresFault(error)
    }
    return new PostgresStore(sql, clock)
  }

  /**
   * Calls `onWake` when any instance accepts a job or makes one due, and on every
   * (re)subscription, since notifications sent while disconnected are lost. Resolves once
   * listening; the function it returns stops listening.
   */
  async listen(onWake: () => void): Promise<() => Promise<void>> {
    const subscription = await this.sql.listen(WAKE_CHANNEL, onWake, onWake)
    this.subscriptions.add(subscription)
    return async () => {
      this.subscriptions.delete(subscription)
      await subscription.unlisten()
    }
  }

  /** One statement on the pool; a database fault becomes StoreUnavailableError. */
  private async one<R>(text: string, values: unknown[] = []): Promise<Rows<R>> {
    try {
      return await run<R>(this.sql, text, values)
    } catch (error) {
      throw postgresFault(error)
    }
  }

  /** One transaction; a database fault becomes StoreUnavailableError. */
  private async transaction<T>(work: (tx: TransactionSQL) => Promise<T>): Promise<T> {
    try {
      return (await this.sql.begin(work)) as T
    } catch (error) {
      throw postgresFault(error)
    }
  }

  /** Sent inside the transaction: PostgreSQL delivers it on commit, and drops it on rollback. */
  private wakeOthers(tx: TransactionSQL): Promise<void> {
    return tx.notify(WAKE_CHANNEL)
  }

  async acceptJob(job: NewJob): Promise<AcceptResult> {
    try {
      return await this.transaction(async (tx): Promise<AcceptResult> => {
        if (job.idempotencyKey !== null) {
          const [row] = await run<PgJobRow>(tx, S.findByIdempotencyKey, [job.owner, job.idempotencyKey])
          if (row) return replayOf(row, job.requestHash)
        }
        const [turn] = await run<{ last_sequence: number; open_jobs: number }>(tx, S.openConversationTurn, [
          job.owner,
          job.conversationId,
          job.now,
        ])
        if (!turn) throw new Error('conversation upsert returned nothing')
        // Claimed at once only as the head of its line: one job per conversation at a time.
        const lease = job.claimBy && turn.open_jobs === 1 ? job.claimBy : undefined
        const [row] = await run<PgJobRow>(tx, lease ? S.acceptedAndClaimed : S.accepted, [
          job.id,
          job.owner,
          job.conversationId,
          turn.last_sequence,
          turn.open_jobs > 1,
          job.now,
          bytes(job.message),
          bytes(job.callbackUrl),
          bytes(job.model),
          bytes(job.systemPrompt),
          job.metadata === null ? null : JSON.stringify(job.metadata),
          job.idempotencyKey,
          job.requestHash,
          job.llm == null ? null : JSON.stringify(job.llm),
          job.traceContext ?? null,
          job.callbackHeaders ?? null,
          job.callbackHeaderNames?.length ? JSON.stringify(job.callbackHeaderNames) : null,
          originOf(job.callbackUrl),
          ...(lease ? [lease.workerId, job.now + lease.leaseMs] : []),
        ])
        if (!row) throw new IdempotencyRace()
        // A job leased here already is nothing for another instance to claim.
        if (!lease) await this.wakeOthers(tx)
        return { kind: 'created', job: jobFromPg(row) }
      })
    } catch (error) {
      if (!(error instanceof IdempotencyRace) || job.idempotencyKey === null) throw error
      const [row] = await this.one<PgJobRow>(S.findByIdempotencyKey, [job.owner, job.idempotencyKey])
      if (!row) throw new Error('idempotency key conflicted, but its job is gone')
      return replayOf(row, job.requestHash)
    }
  }

  async getJob(id: string, owner: string, now: number): Promise<Job | undefined> {
    const [row] = await this.one<PgJobRow>(S.jobById, [id, owner])
    return row ? jobAsOf(decoded(row), now) : undefined
  }

  async listDeliveryAttempts(jobId: string): Promise<DeliveryAttempt[]> {
    return (await this.one<DeliveryAttemptRow>(S.deliveryAttempts, [jobId])).map(deliveryAttemptFromRow)
  }

  async claimJobs(r: ClaimRequest): Promise<Job[]> {
    const until = r.now + r.leaseMs
    const llmLimit = Math.min(r.limit, r.llmLimit)
    return this.transaction(async (tx): Promise<Job[]> => {
      const claimed: PgJobRow[] = []
      const claim = async (text: string, values: unknown[]): Promise<number> => {
        const rows = await run<PgJobRow>(tx, text, values)
        claimed.push(...rows)
        return rows.length
      }
      for (const owner of llmLimit > 0 ? (r.llmOwners ?? []) : []) {
        if (claimed.length >= llmLimit) break
        await claim(S.claimLlmHeadOf, [r.workerId, until, r.now, owner])
      }
      if (llmLimit > claimed.length)
        await claim(S.claimLlmStage, [r.workerId, until, r.now, llmLimit - claimed.length])
      let deliveryLimit = Math.min(r.limit - claimed.length, r.deliveryLimit ?? Number.POSITIVE_INFINITY)
      if (deliveryLimit > 0)
        deliveryLimit -= await claim(S.claimDeliveryStage, [r.workerId, until, r.now, deliveryLimit])
      // The job.tool_calls events take the callback slots the callbacks due left.
      if (deliveryLimit > 0) await claim(S.claimToolCallsEvent, [r.workerId, until, r.now, deliveryLimit])
      return claimed.map(jobFromPg)
    })
  }

  async dueLlmOwners(now: number): Promise<string[]> {
    return (await this.one<{ owner: string }>(S.dueLlmOwners, [now])).map((r) => r.owner)
  }

  async renewLease(jobId: string, workerId: string, until: number): Promise<boolean> {
    return (await this.one(S.renewLease, [until, jobId, workerId])).count === 1
  }

  async deferDelivery(jobId: string, workerId: string, until: number, now: number): Promise<boolean> {
    // No wake-up: it is due later, and this instance's own timer (nextWakeAt) comes back for it.
    return this.transaction(
      async (tx) => (await run(tx, S.deliveryDeferred, [until, now, jobId, workerId])).count === 1,
    )
  }

  async releaseLease(jobId: string, workerId: string, now: number): Promise<boolean> {
    return this.transaction(async (tx): Promise<boolean> => {
      const released = (await run(tx, S.leaseReleased, [now, jobId, workerId])).count === 1
      if (released) await this.wakeOthers(tx)
      return released
    })
  }

  async readHistory(owner: string, conversationId: string, limit: number): Promise<HistoryMessage[]> {
    if (limit <= 0) return []
    return (await this.one<PgMessageRow>(S.readHistory, [owner, conversationId, limit])).map(messageFromPg)
  }

  /** The conversation's turn is over: let its next waiting message go (see S.endTurn for the order). */
  private async endTurn(tx: TransactionSQL, job: Pick<Job, 'owner' | 'conversationId'>): Promise<void> {
    // Every open job but the head waits: with none left open, no one is to be released.
    const [left] = await run<{ open_jobs: number }>(tx, S.endTurn, [job.owner, job.conversationId])
    if (left !== undefined && left.open_jobs <= 0) return
    const released = await run(tx, S.nextInLine, [job.owner, job.conversationId])
    // NOTIFY serializes committing transactions, so only when a message became claimable.
    if (released.count > 0) await this.wakeOthers(tx)
  }

  async recordAnswer(jobId: string, workerId: string, answer: Answer, now: number): Promise<Job | undefined> {
    return this.transaction(async (tx): Promise<Job | undefined> => {
      const usage = answer.usage === null ? null : JSON.stringify(answer.usage)
      const [row] = await run<PgJobRow>(tx, S.answered, [
        bytes(answer.response),
        bytes(answer.model),
        usage,
        now,
        jobId,
        workerId,
        answer.output === undefined ? null : JSON.stringify(answer.output),
        answer.promptTokens ?? null,
      ])
      if (!row) return undefined
      const job = jobFromPg(row)
      await run(tx, S.appendHistory, [
        job.owner,
        job.conversationId,
        row.message,
        job.id,
        job.createdAt,
        row.response,
        now,
        answer.messageTokens?.user ?? null,
        answer.messageTokens?.assistant ?? null,
        job.toolRounds.length === 0 ? null : JSON.stringify(job.toolRounds),
      ])
      await run(tx, S.usageCounted, usageValues(job.owner, answer, now))
      await this.endTurn(tx, job)
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
    return this.transaction(async (tx): Promise<boolean> => {
      const values = [
        retryAt,
        error.code,
        diagnostic(error.message),
        countAttempt ? 0 : 1,
        now,
        jobId,
        workerId,
        rejected === undefined ? null : JSON.stringify(rejected),
      ]
      if ((await run(tx, S.llmRetry, values)).count !== 1) return false
      // Idle instances re-arm their timers for `retryAt`.
      await this.wakeOthers(tx)
      return true
    })
  }

  async recordLlmFailure(
    jobId: string,
    workerId: string,
    error: JobError,
    now: number,
  ): Promise<Job | undefined> {
    return this.transaction(async (tx): Promise<Job | undefined> => {
      const [row] = await run<PgJobRow>(tx, S.llmFailed, [
        error.code,
        diagnostic(error.message),
        now,
        jobId,
        workerId,
      ])
      if (!row) return undefined
      const job = jobFromPg(row)
      await this.endTurn(tx, job)
      return job
    })
  }

  async recordDeliveryAttempt(
    jobId: string,
    workerId: string,
    attempt: Omit<DeliveryAttempt, 'attempt'>,
    outcome: DeliveryOutcome,
  ): Promise<boolean> {
    const statement = outcome.status === 'delivering' ? S.deliveryRetry : S[outcome.status]
    const values: unknown[] = [attempt.at, jobId, workerId]
    if (outcome.status === 'delivering') values.push(outcome.retryAt)
    return this.recordAttempt(statement, values, jobId, attempt)
  }

  /** One callback attempt: the job's row by `statement`, then the attempt's row, in one transaction. */
  private recordAttempt(
    statement: string,
    values: unknown[],
    jobId: string,
    attempt: Omit<DeliveryAttempt, 'attempt'>,
  ): Promise<boolean> {
    return this.transaction(async (tx): Promise<boolean> => {
      const [row] = await run<{ delivery_attempts: number }>(tx, statement, values)
      if (!row) return false
      await run(tx, S.insertDeliveryAttempt, [
        jobId,
        row.delivery_attempts,
        attempt.at,
        attempt.statusCode,
        attempt.error?.code ?? null,
        attempt.error ? diagnostic(attempt.error.message) : null,
        Math.round(attempt.durationMs),
      ])
      return true
    })
  }

  async redeliver(jobId: string, owner: string, now: number): Promise<RedeliverResult> {
    const scheduled = await this.transaction(async (tx): Promise<boolean> => {
      if ((await run(tx, S.redelivered, [now, jobId, owner])).count !== 1) return false
      await this.wakeOthers(tx)
      return true
    })
    if (scheduled) return 'scheduled'
    return (await this.one(S.jobExists, [jobId, owner])).length > 0 ? 'not_finished' : 'not_found'
  }

  async cancelJob(jobId: string, owner: string, now: number): Promise<CancelResult> {
    // Only a cancel of a job waiting its turn can be refused its conversation row (leaveLine);
    // the end of a turn holding it commits in a moment.
    for (let tries = 1; ; tries++) {
      try {
        return await this.transaction((tx) => this.cancelOnce(tx, jobId, owner, now))
      } catch (error) {
        if (!(error instanceof ConversationBusy) || tries >= CANCEL_TRIES) throw error
      }
    }
  }

  private async cancelOnce(
    tx: TransactionSQL,
    jobId: string,
    owner: string,
    now: number,
  ): Promise<CancelResult> {
    const [target] = await run<{ status: string; waiting: boolean; conversation_id: string }>(
      tx,
      S.cancelTarget,
      [jobId, owner],
    )
    if (!target) return { kind: 'not_found' }
    const from = target.status
    if (!isCancellable(from)) {
      const [row] = await run<PgJobRow>(tx, S.jobById, [jobId, owner])
      if (!row) throw new Error(`job ${jobId} vanished inside its transaction`)
      const job = jobFromPg(row)
      return from === 'cancelled' ? { kind: 'already_cancelled', job } : { kind: 'finished', job }
    }
    const waitingTurn = from === 'queued' && target.waiting
    if (waitingTurn && (await run(tx, S.leaveLine, [owner, target.conversation_id])).count !== 1)
      throw new ConversationBusy()
    const [row] = await run<PgJobRow>(tx, CANCELLED_FROM[from], [now, jobId, owner])
    if (!row) throw new Error(`job ${jobId} was not ${from} inside its transaction`)
    const job = jobFromPg(row)
    // A job that had its conversation's turn ends it; a delivering one ended it when answered.
    if (!waitingTurn && from !== 'delivering') await this.endTurn(tx, job)
    return { kind: 'cancelled', job, from }
  }

  async leaseHeld(jobId: string, workerId: string): Promise<boolean> {
    return (await this.one(S.leaseHeld, [jobId, workerId])).length > 0
  }

  async recordToolCalls(
    jobId: string,
    workerId: string,
    turn: ToolCallsTurn,
    now: number,
  ): Promise<Job | undefined> {
    const [row] = await this.one<PgJobRow>(S.toolCalls, [
      JSON.stringify(turn.rounds),
      turn.usage === null ? null : JSON.stringify(turn.usage),
      turn.resultsDueAt,
      turn.promptTokens ?? null,
      now,
      jobId,
      workerId,
    ])
    return row ? jobFromPg(row) : undefined
  }

  async recordToolCallsAttempt(
    jobId: string,
    workerId: string,
    round: number,
    attempt: Omit<DeliveryAttempt, 'attempt'>,
    outcome: DeliveryOutcome,
  ): Promise<boolean> {
    const statement =
      outcome.status === 'delivering'
        ? S.toolCallsRetry
        : outcome.status === 'delivered'
          ? S.toolCallsDelivered
          : S.toolCallsGivenUp
    const values: unknown[] = [attempt.at, jobId, workerId, round]
    if (outcome.status === 'delivering') values.push(outcome.retryAt)
    return this.recordAttempt(statement, values, jobId, attempt)
  }

  async submitToolResults(
    jobId: string,
    owner: string,
    results: readonly ToolResult[],
    now: number,
  ): Promise<SubmitToolResultsResult> {
    return this.transaction(async (tx): Promise<SubmitToolResultsResult> => {
      const [locked] = await run<PgJobRow>(tx, S.awaitingJobLocked, [jobId, owner])
      if (!locked) return { kind: 'not_found' }
      const found = jobFromPg(locked)
      if (found.status !== 'awaiting_tool_results') return { kind: 'not_awaiting', job: found }
      if (!answersExactly(pendingCalls(found.toolRounds), results)) return { kind: 'mismatch', job: found }
      const rounds = JSON.stringify(withResults(found.toolRounds, results, now))
      const [row] = await run<PgJobRow>(tx, S.toolResultsSubmitted, [rounds, now, jobId, owner])
      if (!row) throw new Error('the job awaiting tool results could not be queued')
      await this.wakeOthers(tx)
      return { kind: 'queued', job: jobFromPg(row) }
    })
  }

  async expireToolResults(now: number, error: JobError): Promise<number> {
    const [due] = await this.one<{ due: boolean }>(S.toolResultsDue, [now])
    if (due?.due !== true) return 0
    return this.transaction(async (tx): Promise<number> => {
      const expired = await run<{ id: string; owner: string; conversation_id: string }>(
        tx,
        S.toolResultsTimedOut,
        [error.code, diagnostic(error.message), now],
      )
      for (const job of expired)
        await this.endTurn(tx, { owner: job.owner, conversationId: job.conversation_id })
      if (expired.length > 0) await this.wakeOthers(tx)
      return expired.length
    })
  }

  async settledAmong(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return []
    return (await this.one<{ id: string }>(S.settledAmong, [ids])).map((r) => r.id)
  }

  /** Undefined for a conversation with no history and nothing in line. */
  async readConversation(owner: string, conversationId: string): Promise<HistoryMessage[] | undefined> {
    const rows = await this.one<PgMessageRow>(S.readConversation, [owner, conversationId])
    if (rows.length > 0) return rows.map(messageFromPg)
    return (await this.one(S.hasOpenJobs, [owner, conversationId])).length > 0 ? [] : undefined
  }

  /**
   * Forgets the history. The conversation's counters stay, so sequence numbers keep rising
   * and messages still in line keep their order.
   */
  async deleteConversation(owner: string, conversationId: string): Promise<boolean> {
    return this.transaction(async (tx): Promise<boolean> => {
      const deleted = await run(tx, S.deleteHistory, [owner, conversationId])
      return deleted.count > 0 || (await run(tx, S.hasOpenJobs, [owner, conversationId])).length > 0
    })
  }

  async countOpenJobs(): Promise<OpenJobCounts> {
    const [row] = await this.one<{
      due_or_running: string
      waiting: string
      processing: string
      awaiting_tool_results: string
      delivering: string
    }>(S.countOpen)
    if (!row) throw new Error('the open-job count returned nothing')
    return openJobCounts({
      dueOrRunning: Number(row.due_or_running),
      waiting: Number(row.waiting),
      processing: Number(row.processing),
      awaitingToolResults: Number(row.awaiting_tool_results),
      delivering: Number(row.delivering),
    })
  }

  async purgeFinishedJobs(before: number): Promise<number> {
    const [row] = await this.one<{ n: string }>(S.purgeFinishedJobs, [before])
    return Number(row?.n ?? 0)
  }

  async purgeHistory(before: number): Promise<number> {
    return (await this.one(S.purgeHistory, [before])).count
  }

  /** Nothing to do: autovacuum keeps statistics and reclaims space, and there is no WAL to checkpoint by hand. */
  async maintain(): Promise<void> {}

  async nextWakeAt(now: number): Promise<number | undefined> {
    const [row] = await this.one<{ at: string | null }>(S.nextWakeAt, [now])
    return row?.at == null ? undefined : Number(row.at)
  }

  async releaseLeases(workerId: string, now: number): Promise<number> {
    return this.transaction(async (tx): Promise<number> => {
      const { count } = await run(tx, S.leasesReleased, [now, workerId])
      // The jobs are due now: other instances take them at once instead of at their next timer.
      if (count > 0) await this.wakeOthers(tx)
      return count
    })
  }

  // Operators: list, find and recover (src/store/job-listing.ts, conversation-listing.ts).

  private readonly runListing: RunStatement = (s) => this.one<Record<string, unknown>>(s.sql, s.values)

  listJobs(query: JobListQuery): Promise<JobPage> {
    return readJobPage(this.runListing, POSTGRES_LISTING, query)
  }

  listConversations(query: ConversationListQuery): Promise<ConversationPage> {
    return readConversationPage(this.runListing, POSTGRES_LISTING, query)
  }

  async redeliverMatching(
    filter: RedeliverFilter,
    limit: number,
    now: number,
  ): Promise<RedeliverMatchingResult> {
    return this.transaction(async (tx): Promise<RedeliverMatchingResult> => {
      const result = await runSteps(
        redeliverMatchingSteps(POSTGRES_LISTING, filter, limit, now),
        (s) => run<Record<string, unknown>>(tx, s.sql, s.values),
        async (s) => (await run(tx, s.sql, s.values)).count,
      )
      if (result.scheduled > 0) await this.wakeOthers(tx)
      return result
    })
  }

  async ownerOfJob(id: string): Promise<string | undefined> {
    const [row] = await this.one<{ owner: string }>(S.jobOwner, [id])
    return row?.owner
  }

  async heartbeat(workerId: string, now: number, silentForMs: number): Promise<boolean> {
    const [row] = await this.one<{ known: boolean }>(S.heartbeat, [workerId, now, silentForMs])
    return row?.known === true
  }

  async recoverAbandonedLeases(workerId: string, now: number, silentForMs: number): Promise<number> {
    return this.transaction(async (tx): Promise<number> => {
      const { count } = await run(tx, S.leasesOfSilentInstancesExpired, [now, silentForMs, workerId])
      if (count > 0) await this.wakeOthers(tx)
      return count
    })
  }

  /** `SELECT 1` within PING_TIMEOUT_MS: false when the server is down, unreachable or too slow. */
  async ping(): Promise<boolean> {
    const query = this.sql`SELECT 1 AS ok`
    let timer: Timer | undefined
    const timedOut = new Promise<false>((resolve) => {
      timer = this.clock.setTimeout(() => resolve(false), PING_TIMEOUT_MS)
    })
    try {
      const answered = await Promise.race([query.then((rows) => rows.length === 1), timedOut])
      if (!answered) query.cancel()
      return answered
    } catch (error) {
      if (postgresFault(error) instanceof StoreUnavailableError) return false
      throw error
    } finally {
      timer?.cancel()
    }
  }

  async close(): Promise<void> {
    const subscriptions = [...this.subscriptions]
    this.subscriptions.clear()
    await Promise.all(subscriptions.map((s) => s.unlisten()))
    await this.sql.close()
  }
}

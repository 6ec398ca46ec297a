import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { JobError } from '../job.ts'
import { GroupCommit } from './group-commit.ts'
import {
  type DeliveryAttemptRow,
  deliveryAttemptFromRow,
  type JobRow,
  jobFromRow,
  type MessageRow,
  messageFromRow,
} from './rows.ts'
import { StoreDatabase } from './sqlite-database.ts'
import { sqliteMigrations } from './sqlite-migrations.ts'
import {
  type AcceptResult,
  type Answer,
  type ClaimRequest,
  type DeliveryAttempt,
  type DeliveryOutcome,
  type HistoryMessage,
  type Job,
  type NewJob,
  type OpenJobCounts,
  openJobCounts,
  type RedeliverResult,
  type RejectedAnswer,
  type Store,
} from './store.ts'

const LLM_STAGE = `status IN ('queued', 'processing') AND waiting = 0`

/**
 * The statements on every job's path, named so `bench/curves.ts` can print their
 * EXPLAIN QUERY PLAN (docs/benchmarks.md): each must be an index search, never a scan.
 */
export const SQLITE_HOT_STATEMENTS = {
  /** Is any job due for the LLM? Cheaper than an UPDATE that finds nothing. */
  llmDue: `SELECT EXISTS (SELECT 1 FROM jobs WHERE ${LLM_STAGE} AND available_at <= ?1) AS due`,
  claimLlmStage: `UPDATE jobs SET status = 'processing', lease_owner = ?1, available_at = ?2,
      llm_attempts = llm_attempts + 1, updated_at = ?3
    WHERE seq IN (SELECT seq FROM jobs WHERE ${LLM_STAGE} AND available_at <= ?3
                  ORDER BY available_at, seq LIMIT ?4)
    RETURNING *`,
  deliveryDue: `SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'delivering' AND available_at <= ?1) AS due`,
  claimDeliveryStage: `UPDATE jobs SET lease_owner = ?1, available_at = ?2, updated_at = ?3
    WHERE seq IN (SELECT seq FROM jobs WHERE status = 'delivering' AND available_at <= ?3
                  ORDER BY available_at LIMIT ?4)
    RETURNING *`,
  nextWakeAt: `SELECT MIN(at) AS at FROM (
      SELECT MIN(available_at) AS at FROM jobs WHERE ${LLM_STAGE} AND available_at > ?1
      UNION ALL
      SELECT MIN(available_at) AS at FROM jobs WHERE status = 'delivering' AND available_at > ?1)`,
  nextInLine: `UPDATE jobs SET waiting = 0 WHERE seq =
      (SELECT seq FROM jobs WHERE owner = ?1 AND conversation_id = ?2 AND waiting = 1 ORDER BY seq LIMIT 1)`,
  /** The queue-depth metric: one partial index each, so finished history is never read. */
  countOpen: `SELECT
      (SELECT COUNT(*) FROM jobs WHERE ${LLM_STAGE}) AS dueOrRunning,
      (SELECT COUNT(*) FROM jobs WHERE waiting = 1) AS waiting,
      (SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL AND status = 'processing') AS processing,
      (SELECT COUNT(*) FROM jobs WHERE status = 'delivering') AS delivering`,
  /** Newest first; reversed in JS, which spares SQLite a temporary sort. */
  readHistory: `SELECT role, content, job_id, created_at, tokens FROM messages
    WHERE owner = ?1 AND conversation_id = ?2 ORDER BY id DESC LIMIT ?3`,
} as const
const SQL = SQLITE_HOT_STATEMENTS

/**
 * The embedded default: one SQLite file in WAL mode. Every write is atomic on its own (a
 * savepoint) inside an IMMEDIATE transaction shared by the writes of one event-loop turn
 * (group commit), so two processes sharing the file still claim safely.
 */
export class SqliteStore implements Store {
  private readonly db: StoreDatabase
  private readonly writes: GroupCommit

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    this.db = new StoreDatabase(path, { create: true, strict: true })
    this.db.exec('PRAGMA journal_mode = WAL')
    // FULL: a 202 promises the job survives a power cut, not only a crash of the process.
    this.db.exec('PRAGMA synchronous = FULL')
    this.db.exec('PRAGMA busy_timeout = 5000')
    this.migrate()
    this.writes = new GroupCommit(this.db)
  }

  private migrate(): void {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    )
    const applied = new Set(
      this.db
        .query<{ version: number }, []>('SELECT version FROM schema_migrations')
        .all()
        .map((r) => r.version),
    )
    for (const m of sqliteMigrations) {
      if (applied.has(m.version)) continue
      this.db
        .transaction(() => {
          this.db.exec(m.sql)
          this.db
            .query('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
            .run(m.version, m.name, Date.now())
        })
        .immediate()
    }
  }

  private jobBy(sql: string, ...params: (string | number | null)[]): Job | undefined {
    const row = this.db.query<JobRow, (string | number | null)[]>(sql).get(...params)
    return row ? jobFromRow(row) : undefined
  }

  async acceptJob(job: NewJob): Promise<AcceptResult> {
    return this.writes.run((): AcceptResult => {
      if (job.idempotencyKey !== null) {
        const row = this.db
          .query<JobRow & { request_hash: string }, [string, string]>(
            'SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?',
          )
          .get(job.owner, job.idempotencyKey)
        if (row) {
          const kind = row.request_hash === job.requestHash ? 'existing' : 'idempotency_conflict'
          return { kind, job: jobFromRow(row) }
        }
      }
      const conversation = this.db
        .query<{ last_sequence: number; open_jobs: number }, [string, string, number]>(
          `INSERT INTO conversations (owner, id, last_sequence, open_jobs, created_at) VALUES (?1, ?2, 1, 1, ?3)
           ON CONFLICT (owner, id) DO UPDATE SET last_sequence = last_sequence + 1, open_jobs = open_jobs + 1
           RETURNING last_sequence, open_jobs`,
        )
        .get(job.owner, job.conversationId, job.now)
      if (!conversation) throw new Error('conversation upsert returned nothing')
      // The row as inserted (no RETURNING *: reading 20 columns back costs more than the insert's indexes).
      const row: JobRow = {
        id: job.id,
        owner: job.owner,
        conversation_id: job.conversationId,
        sequence: conversation.last_sequence,
        status: 'queued',
        message: job.message,
        callback_url: job.callbackUrl,
        model: job.model,
        system_prompt: job.systemPrompt,
        metadata: job.metadata === null ? null : JSON.stringify(job.metadata),
        llm_parameters: job.llm == null ? null : JSON.stringify(job.llm),
        response: null,
        output: null,
        rejected_answer: null,
        prompt_tokens: null,
        error_code: null,
        error_message: null,
        usage: null,
        llm_attempts: 0,
        delivery_attempts: 0,
        delivery_failures: 0,
        created_at: job.now,
        updated_at: job.now,
        completed_at: null,
      }
      this.db
        .query<never, (string | number | null)[]>(
          `INSERT INTO jobs (id, owner, conversation_id, sequence, status, waiting, available_at, message, callback_url,
             model, system_prompt, metadata, llm_parameters, idempotency_key, request_hash, created_at, updated_at)
           VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          row.id,
          row.owner,
          row.conversation_id,
          row.sequence,
          conversation.open_jobs > 1 ? 1 : 0,
          job.now,
          row.message,
          row.callback_url,
          row.model,
          row.system_prompt,
          row.metadata,
          row.llm_parameters,
          job.idempotencyKey,
          job.requestHash,
          job.now,
          job.now,
        )
      return { kind: 'created', job: jobFromRow(row) }
    })
  }

  async getJob(id: string, owner: string): Promise<Job | undefined> {
    await this.writes.flushed()
    return this.jobBy('SELECT * FROM jobs WHERE id = ? AND owner = ?', id, owner)
  }

  async listDeliveryAttempts(jobId: string): Promise<DeliveryAttempt[]> {
    await this.writes.flushed()
    return this.db
      .query<DeliveryAttemptRow, [string]>(
        'SELECT * FROM delivery_attempts WHERE job_id = ? ORDER BY attempt',
      )
      .all(jobId)
      .map(deliveryAttemptFromRow)
  }

  async claimJobs(r: ClaimRequest): Promise<Job[]> {
    const until = r.now + r.leaseMs
    return this.writes.run((): Job[] => {
      const claimed: JobRow[] = []
      const llmLimit = Math.min(r.limit, r.llmLimit)
      if (llmLimit > 0 && this.isDue(SQL.llmDue, r.now)) {
        claimed.push(
          ...this.db
            .query<JobRow, [string, number, number, number]>(SQL.claimLlmStage)
            .all(r.workerId, until, r.now, llmLimit),
        )
      }
      const deliveryLimit = Math.min(r.limit - claimed.length, r.deliveryLimit ?? Number.POSITIVE_INFINITY)
      if (deliveryLimit > 0 && this.isDue(SQL.deliveryDue, r.now)) {
        claimed.push(
          ...this.db
            .query<JobRow, [string, number, number, number]>(SQL.claimDeliveryStage)
            .all(r.workerId, until, r.now, deliveryLimit),
        )
      }
      return claimed.map(jobFromRow)
    })
  }

  private isDue(sql: string, now: number): boolean {
    return this.db.query<{ due: number }, [number]>(sql).get(now)?.due === 1
  }

  async renewLease(jobId: string, workerId: string, until: number): Promise<boolean> {
    return this.writes.run(
      () =>
        this.db
          .query(
            `UPDATE jobs SET available_at = ? WHERE id = ? AND lease_owner = ? AND status IN ('processing', 'delivering')`,
          )
          .run(until, jobId, workerId).changes === 1,
    )
  }

  async releaseLease(jobId: string, workerId: string, now: number): Promise<boolean> {
    return this.writes.run(
      () =>
        this.db
          .query(
            `UPDATE jobs SET lease_owner = NULL, available_at = ?1, updated_at = ?1,
               llm_attempts = CASE WHEN status = 'processing' THEN llm_attempts - 1 ELSE llm_attempts END,
               status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
             WHERE id = ?2 AND lease_owner = ?3 AND status IN ('processing', 'delivering')`,
          )
          .run(now, jobId, workerId).changes === 1,
    )
  }

  async readHistory(owner: string, conversationId: string, limit: number): Promise<HistoryMessage[]> {
    if (limit <= 0) return []
    return this.db
      .query<MessageRow, [string, string, number]>(SQL.readHistory)
      .all(owner, conversationId, limit)
      .reverse()
      .map(messageFromRow)
  }

  /** The conversation's turn is over: let its next waiting message go. */
  private endTurn(job: Job): void {
    this.db
      .query('UPDATE conversations SET open_jobs = open_jobs - 1 WHERE owner = ? AND id = ?')
      .run(job.owner, job.conversationId)
    this.db.query(SQL.nextInLine).run(job.owner, job.conversationId)
  }

  async recordAnswer(jobId: string, workerId: string, answer: Answer, now: number): Promise<Job | undefined> {
    return this.writes.run((): Job | undefined => {
      const job = this.jobBy(
        `UPDATE jobs SET status = 'delivering', response = ?, output = ?, model = ?, usage = ?, prompt_tokens = ?,
           rejected_answer = NULL, error_code = NULL, error_message = NULL, completed_at = ?, updated_at = ?
         WHERE id = ? AND lease_owner = ? AND status = 'processing' RETURNING *`,
        answer.response,
        answer.output === undefined ? null : JSON.stringify(answer.output),
        answer.model,
        answer.usage === null ? null : JSON.stringify(answer.usage),
        answer.promptTokens ?? null,
        now,
        now,
        jobId,
        workerId,
      )
      if (!job) return undefined
      const append = this.db.query(
        `INSERT INTO messages (owner, conversation_id, role, content, job_id, created_at, tokens)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, role) DO NOTHING`,
      )
      const tokens = answer.messageTokens
      append.run(
        job.owner,
        job.conversationId,
        'user',
        job.message,
        job.id,
        job.createdAt,
        tokens?.user ?? null,
      )
      append.run(
        job.owner,
        job.conversationId,
        'assistant',
        answer.response,
        job.id,
        now,
        tokens?.assistant ?? null,
      )
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
    return this.writes.run(
      () =>
        this.db
          .query(
            `UPDATE jobs SET status = 'queued', lease_owner = NULL, available_at = ?, error_code = ?, error_message = ?,
               llm_attempts = llm_attempts - ?, rejected_answer = COALESCE(?, rejected_answer), updated_at = ?
             WHERE id = ? AND lease_owner = ? AND status = 'processing'`,
          )
          .run(
            retryAt,
            error.code,
            error.message,
            countAttempt ? 0 : 1,
            rejected === undefined ? null : JSON.stringify(rejected),
            now,
            jobId,
            workerId,
          ).changes === 1,
    )
  }

  async recordLlmFailure(
    jobId: string,
    workerId: string,
    error: JobError,
    now: number,
  ): Promise<Job | undefined> {
    return this.writes.run((): Job | undefined => {
      const job = this.jobBy(
        `UPDATE jobs SET status = 'delivering', error_code = ?, error_message = ?, completed_at = ?, updated_at = ?
         WHERE id = ? AND lease_owner = ? AND status = 'processing' RETURNING *`,
        error.code,
        error.message,
        now,
        now,
        jobId,
        workerId,
      )
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
      const failed = outcome.status === 'delivered' ? 0 : 1
      const row = this.db
        .query<{ delivery_attempts: number }, (string | number)[]>(
          `UPDATE jobs SET status = ?, lease_owner = NULL, available_at = ?, delivery_attempts = delivery_attempts + 1,
             delivery_failures = CASE WHEN ? = 1 THEN delivery_failures + 1 ELSE 0 END, updated_at = ?
           WHERE id = ? AND lease_owner = ? AND status = 'delivering' RETURNING delivery_attempts`,
        )
        .get(
          outcome.status,
          outcome.status === 'delivering' ? outcome.retryAt : attempt.at,
          failed,
          attempt.at,
          jobId,
          workerId,
        )
      if (!row) return false
      this.db
        .query(
          `INSERT INTO delivery_attempts (job_id, attempt, at, status_code, error_code, error_message, duration_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          jobId,
          row.delivery_attempts,
          attempt.at,
          attempt.statusCode,
          attempt.error?.code ?? null,
          attempt.error?.message ?? null,
          attempt.durationMs,
        )
      return true
    })
  }

  async redeliver(jobId: string, owner: string, now: number): Promise<RedeliverResult> {
    return this.writes.run((): RedeliverResult => {
      const result = this.db
        .query(
          `UPDATE jobs SET status = 'delivering', available_at = ?, delivery_failures = 0, lease_owner = NULL,
             updated_at = ?
           WHERE id = ? AND owner = ? AND status IN ('delivered', 'dead')`,
        )
        .run(now, now, jobId, owner)
      if (result.changes === 1) return 'scheduled'
      return this.jobBy('SELECT * FROM jobs WHERE id = ? AND owner = ?', jobId, owner)
        ? 'not_finished'
        : 'not_found'
    })
  }

  /** Undefined for a conversation with no history and nothing in line. */
  async readConversation(owner: string, conversationId: string): Promise<HistoryMessage[] | undefined> {
    await this.writes.flushed()
    const messages = this.db
      .query<MessageRow, [string, string]>(
        'SELECT role, content, job_id, created_at FROM messages WHERE owner = ? AND conversation_id = ? ORDER BY id',
      )
      .all(owner, conversationId)
      .map(messageFromRow)
    if (messages.length > 0) return messages
    return this.hasOpenJobs(owner, conversationId) ? [] : undefined
  }

  private hasOpenJobs(owner: string, conversationId: string): boolean {
    return (
      this.db
        .query('SELECT 1 FROM conversations WHERE owner = ? AND id = ? AND open_jobs > 0')
        .get(owner, conversationId) !== null
    )
  }

  /**
   * Forgets the history. The conversation's counters stay, so sequence numbers keep rising
   * and messages still in line keep their order.
   */
  async deleteConversation(owner: string, conversationId: string): Promise<boolean> {
    return this.writes.run((): boolean => {
      const deleted = this.db
        .query('DELETE FROM messages WHERE owner = ? AND conversation_id = ?')
        .run(owner, conversationId).changes
      return deleted > 0 || this.hasOpenJobs(owner, conversationId)
    })
  }

  async countOpenJobs(): Promise<OpenJobCounts> {
    await this.writes.flushed()
    const row = this.db
      .query<{ dueOrRunning: number; waiting: number; processing: number; delivering: number }, []>(
        SQL.countOpen,
      )
      .get()
    if (!row) throw new Error('the open-job count returned nothing')
    return openJobCounts(row)
  }

  async purgeFinishedJobs(before: number): Promise<number> {
    return this.writes.run((): number => {
      this.db
        .query(
          `DELETE FROM delivery_attempts WHERE job_id IN
             (SELECT id FROM jobs WHERE status IN ('delivered', 'dead') AND updated_at < ?)`,
        )
        .run(before)
      return this.db
        .query(`DELETE FROM jobs WHERE status IN ('delivered', 'dead') AND updated_at < ?`)
        .run(before).changes
    })
  }

  async purgeHistory(before: number): Promise<number> {
    return this.writes.run(
      () => this.db.query('DELETE FROM messages WHERE created_at < ?').run(before).changes,
    )
  }

  async maintain(): Promise<void> {
    this.db.exec('PRAGMA optimize')
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  }

  async nextWakeAt(now: number): Promise<number | undefined> {
    const row = this.db.query<{ at: number | null }, [number]>(SQL.nextWakeAt).get(now)
    return row?.at ?? undefined
  }

  async releaseLeases(workerId: string, now: number): Promise<number> {
    return this.writes.run(
      () =>
        this.db
          .query(
            `UPDATE jobs SET lease_owner = NULL, available_at = ?, updated_at = ?,
               llm_attempts = CASE WHEN status = 'processing' THEN llm_attempts - 1 ELSE llm_attempts END,
               status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
             WHERE lease_owner = ? AND status IN ('processing', 'delivering')`,
          )
          .run(now, now, workerId).changes,
    )
  }

  async ping(): Promise<boolean> {
    return this.db.query('SELECT 1 AS ok').get() !== null
  }

  async close(): Promise<void> {
    this.writes.commit()
    this.db.close()
  }
}

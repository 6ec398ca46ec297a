import { SQL, type TransactionSQL } from 'bun'
import type { JobError } from '../job.ts'
import { postgresMigrations } from './postgres-migrations.ts'
import {
  type DeliveryAttemptRow,
  deliveryAttemptFromRow,
  type JobRow,
  jobFromRow,
  type MessageRow,
  messageFromRow,
} from './rows.ts'
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

/** Every instance listens here; a notification means "something may have become due". */
export const WAKE_CHANNEL = 'llm_relay_wake'

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/*
 * PostgreSQL TEXT cannot hold U+0000, which clients and the LLM may send. The texts that
 * must round-trip byte-exact are therefore BYTEA (UTF-8), decoded here. `ignoreBOM` keeps
 * a leading U+FEFF, which a default TextDecoder would drop.
 */
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { ignoreBOM: true })
const bytes = (text: string): Uint8Array => utf8.encode(text)
const textOf = (value: Uint8Array): string => fromUtf8.decode(value)
/** Error messages are diagnostics we compose (with upstream text inside): kept as TEXT, NUL replaced. */
const diagnostic = (text: string): string => text.replaceAll('\u0000', '\uFFFD')

type BytesColumns = 'message' | 'callback_url' | 'model' | 'system_prompt'
type PgJobRow = Omit<JobRow, BytesColumns | 'response'> &
  Record<BytesColumns, Uint8Array> & { response: Uint8Array | null; request_hash: string }
type PgMessageRow = Omit<MessageRow, 'content'> & { content: Uint8Array }

function jobFromPg(row: PgJobRow): Job {
  return jobFromRow({
    ...row,
    message: textOf(row.message),
    callback_url: textOf(row.callback_url),
    model: textOf(row.model),
    system_prompt: textOf(row.system_prompt),
    response: row.response === null ? null : textOf(row.response),
  })
}

const messageFromPg = (row: PgMessageRow): HistoryMessage =>
  messageFromRow({ ...row, content: textOf(row.content) })

function replayOf(row: PgJobRow, requestHash: string): AcceptResult {
  const kind = row.request_hash === requestHash ? 'existing' : 'idempotency_conflict'
  return { kind, job: jobFromPg(row) }
}

/** Another accept with the same idempotency key committed first: roll back and answer with its job. */
class IdempotencyRace extends Error {
  override name = 'IdempotencyRace'
}

/**
 * The store for many instances: PostgreSQL through Bun's pooled `SQL` client. Every write
 * is one statement or one READ COMMITTED transaction. Claims lock the rows they take
 * (`FOR UPDATE SKIP LOCKED`), so instances claiming at the same instant take different
 * jobs; per-conversation order rests on the `conversations` row lock (see `endTurn`).
 */
export class PostgresStore implements Store {
  private readonly subscriptions = new Set<SQL.ListenSubscription>()

  private constructor(private readonly sql: SQL) {}

  /**
   * Connects a pool and migrates. With `schema`, every pooled connection starts with that
   * `search_path`, and the schema is created if missing.
   */
  static async open(url: string, options: { max?: number; schema?: string } = {}): Promise<PostgresStore> {
    const { schema } = options
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw new Error(`invalid PostgreSQL schema name "${schema}": use a-z, 0-9 and _`)
    }
    const sql = new SQL(url, {
      max: options.max ?? 10,
      ...(schema === undefined ? {} : { connection: { search_path: schema } }),
    })
    try {
      await migrate(sql, schema)
    } catch (error) {
      await sql.close()
      throw error
    }
    return new PostgresStore(sql)
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

  /** Sent inside the transaction: PostgreSQL delivers it on commit, and drops it on rollback. */
  private wakeOthers(tx: TransactionSQL): Promise<void> {
    return tx.notify(WAKE_CHANNEL)
  }

  async acceptJob(job: NewJob): Promise<AcceptResult> {
    try {
      return await this.sql.begin(async (tx): Promise<AcceptResult> => {
        if (job.idempotencyKey !== null) {
          const [row] = await tx<PgJobRow[]>`
            SELECT * FROM jobs WHERE owner = ${job.owner} AND idempotency_key = ${job.idempotencyKey}`
          if (row) return replayOf(row, job.requestHash)
        }
        // Locks the conversation row until commit: accepts and turn ends of one conversation
        // run one after the other, and `seq` follows `sequence` within a conversation.
        const [conversation] = await tx<{ last_sequence: number; open_jobs: number }[]>`
          INSERT INTO conversations (owner, id, last_sequence, open_jobs, created_at)
          VALUES (${job.owner}, ${job.conversationId}, 1, 1, ${job.now})
          ON CONFLICT (owner, id) DO UPDATE SET last_sequence = conversations.last_sequence + 1,
            open_jobs = conversations.open_jobs + 1
          RETURNING last_sequence, open_jobs`
        if (!conversation) throw new Error('conversation upsert returned nothing')
        // A concurrent accept with the same key that committed first makes this insert a no-op.
        const [row] = await tx<PgJobRow[]>`
          INSERT INTO jobs (id, owner, conversation_id, sequence, status, waiting, available_at, message,
            callback_url, model, system_prompt, metadata, llm_parameters, idempotency_key, request_hash, created_at,
            updated_at)
          VALUES (${job.id}, ${job.owner}, ${job.conversationId}, ${conversation.last_sequence}, 'queued',
            ${conversation.open_jobs > 1}, ${job.now}, ${bytes(job.message)}, ${bytes(job.callbackUrl)},
            ${bytes(job.model)}, ${bytes(job.systemPrompt)},
            ${job.metadata === null ? null : JSON.stringify(job.metadata)},
            ${job.llm == null ? null : JSON.stringify(job.llm)}, ${job.idempotencyKey},
            ${job.requestHash}, ${job.now}, ${job.now})
          ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
          RETURNING *`
        if (!row) throw new IdempotencyRace()
        await this.wakeOthers(tx)
        return { kind: 'created', job: jobFromPg(row) }
      })
    } catch (error) {
      if (!(error instanceof IdempotencyRace) || job.idempotencyKey === null) throw error
      const [row] = await this.sql<PgJobRow[]>`
        SELECT * FROM jobs WHERE owner = ${job.owner} AND idempotency_key = ${job.idempotencyKey}`
      if (!row) throw new Error('idempotency key conflicted, but its job is gone')
      return replayOf(row, job.requestHash)
    }
  }

  async getJob(id: string, owner: string): Promise<Job | undefined> {
    const [row] = await this.sql<PgJobRow[]>`SELECT * FROM jobs WHERE id = ${id} AND owner = ${owner}`
    return row ? jobFromPg(row) : undefined
  }

  async listDeliveryAttempts(jobId: string): Promise<DeliveryAttempt[]> {
    const rows = await this.sql<DeliveryAttemptRow[]>`
      SELECT * FROM delivery_attempts WHERE job_id = ${jobId} ORDER BY attempt`
    return rows.map(deliveryAttemptFromRow)
  }

  /*
   * Each stage is one UPDATE over rows its subquery locked with SKIP LOCKED: a row another
   * claimer holds is passed over, and a row changed since this statement's snapshot is
   * re-checked against the WHERE clause once locked (READ COMMITTED), so a job answered or
   * claimed a moment ago is not taken. Only the head of a conversation has `waiting` false,
   * so the LLM stage takes at most one job per conversation.
   */
  async claimJobs(r: ClaimRequest): Promise<Job[]> {
    const until = r.now + r.leaseMs
    const llmLimit = Math.min(r.limit, r.llmLimit)
    return this.sql.begin(async (tx): Promise<Job[]> => {
      const claimed: PgJobRow[] = []
      if (llmLimit > 0) {
        claimed.push(
          ...(await tx<PgJobRow[]>`
            UPDATE jobs SET status = 'processing', lease_owner = ${r.workerId}, available_at = ${until},
              llm_attempts = llm_attempts + 1, updated_at = ${r.now}
            WHERE seq IN (SELECT seq FROM jobs
                          WHERE status IN ('queued', 'processing') AND NOT waiting AND available_at <= ${r.now}
                          ORDER BY available_at, seq LIMIT ${llmLimit}
                          FOR UPDATE SKIP LOCKED)
            RETURNING *`),
        )
      }
      const deliveryLimit = Math.min(r.limit - claimed.length, r.deliveryLimit ?? Number.POSITIVE_INFINITY)
      if (deliveryLimit > 0) {
        claimed.push(
          ...(await tx<PgJobRow[]>`
            UPDATE jobs SET lease_owner = ${r.workerId}, available_at = ${until}, updated_at = ${r.now}
            WHERE seq IN (SELECT seq FROM jobs WHERE status = 'delivering' AND available_at <= ${r.now}
                          ORDER BY available_at LIMIT ${deliveryLimit}
                          FOR UPDATE SKIP LOCKED)
            RETURNING *`),
        )
      }
      return claimed.map(jobFromPg)
    })
  }

  async renewLease(jobId: string, workerId: string, until: number): Promise<boolean> {
    const result = await this.sql`
      UPDATE jobs SET available_at = ${until}
      WHERE id = ${jobId} AND lease_owner = ${workerId} AND status IN ('processing', 'delivering')`
    return result.count === 1
  }

  async releaseLease(jobId: string, workerId: string, now: number): Promise<boolean> {
    return this.sql.begin(async (tx): Promise<boolean> => {
      const result = await tx`
        UPDATE jobs SET lease_owner = NULL, available_at = ${now}, updated_at = ${now},
          llm_attempts = CASE WHEN status = 'processing' THEN llm_attempts - 1 ELSE llm_attempts END,
          status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
        WHERE id = ${jobId} AND lease_owner = ${workerId} AND status IN ('processing', 'delivering')`
      if (result.count === 1) await this.wakeOthers(tx)
      return result.count === 1
    })
  }

  async readHistory(owner: string, conversationId: string, limit: number): Promise<HistoryMessage[]> {
    if (limit <= 0) return []
    const rows = await this.sql<PgMessageRow[]>`
      SELECT role, content, job_id, created_at, tokens FROM
        (SELECT id, role, content, job_id, created_at, tokens FROM messages
         WHERE owner = ${owner} AND conversation_id = ${conversationId} ORDER BY id DESC LIMIT ${limit}) AS newest
      ORDER BY id`
    return rows.map(messageFromPg)
  }

  /*
   * The conversation's turn is over: let its next waiting message go. The conversations
   * UPDATE comes first on purpose: it waits for any accept of this conversation still in
   * flight (that accept holds the row lock), so the next statement's snapshot sees the job
   * it inserted. An accept that comes after sees the decremented counter instead.
   */
  private async endTurn(tx: TransactionSQL, job: Job): Promise<void> {
    await tx`UPDATE conversations SET open_jobs = open_jobs - 1 WHERE owner = ${job.owner} AND id = ${job.conversationId}`
    const released = await tx`
      UPDATE jobs SET waiting = false WHERE seq =
        (SELECT seq FROM jobs WHERE owner = ${job.owner} AND conversation_id = ${job.conversationId} AND waiting
         ORDER BY seq LIMIT 1)`
    // NOTIFY serializes committing transactions, so only when a message became claimable.
    if (released.count > 0) await this.wakeOthers(tx)
  }

  async recordAnswer(jobId: string, workerId: string, answer: Answer, now: number): Promise<Job | undefined> {
    return this.sql.begin(async (tx): Promise<Job | undefined> => {
      const [row] = await tx<PgJobRow[]>`
        UPDATE jobs SET status = 'delivering', response = ${bytes(answer.response)}, model = ${bytes(answer.model)},
          output = ${answer.output === undefined ? null : JSON.stringify(answer.output)},
          usage = ${answer.usage === null ? null : JSON.stringify(answer.usage)},
          prompt_tokens = ${answer.promptTokens ?? null}, rejected_answer = NULL, error_code = NULL,
          error_message = NULL, completed_at = ${now}, updated_at = ${now}
        WHERE id = ${jobId} AND lease_owner = ${workerId} AND status = 'processing'
        RETURNING *`
      if (!row) return undefined
      const job = jobFromPg(row)
      await tx`
        INSERT INTO messages (owner, conversation_id, role, content, job_id, created_at, tokens)
        VALUES (${job.owner}, ${job.conversationId}, 'user', ${row.message}, ${job.id}, ${job.createdAt},
                ${answer.messageTokens?.user ?? null}),
               (${job.owner}, ${job.conversationId}, 'assistant', ${row.response}, ${job.id}, ${now},
                ${answer.messageTokens?.assistant ?? null})
        ON CONFLICT (job_id, role) DO NOTHING`
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
    return this.sql.begin(async (tx): Promise<boolean> => {
      const result = await tx`
        UPDATE jobs SET status = 'queued', lease_owner = NULL, available_at = ${retryAt}, error_code = ${error.code},
          error_message = ${diagnostic(error.message)}, llm_attempts = llm_attempts - ${countAttempt ? 0 : 1},
          rejected_answer = COALESCE(${rejected === undefined ? null : JSON.stringify(rejected)}, rejected_answer),
          updated_at = ${now}
        WHERE id = ${jobId} AND lease_owner = ${workerId} AND status = 'processing'`
      if (result.count !== 1) return false
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
    return this.sql.begin(async (tx): Promise<Job | undefined> => {
      const [row] = await tx<PgJobRow[]>`
        UPDATE jobs SET status = 'delivering', error_code = ${error.code}, error_message = ${diagnostic(error.message)},
          completed_at = ${now}, updated_at = ${now}
        WHERE id = ${jobId} AND lease_owner = ${workerId} AND status = 'processing'
        RETURNING *`
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
    const failed = outcome.status !== 'delivered'
    const availableAt = outcome.status === 'delivering' ? outcome.retryAt : attempt.at
    return this.sql.begin(async (tx): Promise<boolean> => {
      const [row] = await tx<{ delivery_attempts: number }[]>`
        UPDATE jobs SET status = ${outcome.status}, lease_owner = NULL, available_at = ${availableAt},
          delivery_attempts = delivery_attempts + 1,
          delivery_failures = CASE WHEN ${failed} THEN delivery_failures + 1 ELSE 0 END, updated_at = ${attempt.at}
        WHERE id = ${jobId} AND lease_owner = ${workerId} AND status = 'delivering'
        RETURNING delivery_attempts`
      if (!row) return false
      await tx`
        INSERT INTO delivery_attempts (job_id, attempt, at, status_code, error_code, error_message, duration_ms)
        VALUES (${jobId}, ${row.delivery_attempts}, ${attempt.at}, ${attempt.statusCode},
          ${attempt.error?.code ?? null},
          ${attempt.error ? diagnostic(attempt.error.message) : null}, ${Math.round(attempt.durationMs)})`
      return true
    })
  }

  async redeliver(jobId: string, owner: string, now: number): Promise<RedeliverResult> {
    const scheduled = await this.sql.begin(async (tx): Promise<boolean> => {
      const result = await tx`
        UPDATE jobs SET status = 'delivering', available_at = ${now}, delivery_failures = 0, lease_owner = NULL,
          updated_at = ${now}
        WHERE id = ${jobId} AND owner = ${owner} AND status IN ('delivered', 'dead')`
      if (result.count !== 1) return false
      await this.wakeOthers(tx)
      return true
    })
    if (scheduled) return 'scheduled'
    return (await this.getJob(jobId, owner)) ? 'not_finished' : 'not_found'
  }

  /** Undefined for a conversation with no history and nothing in line. */
  async readConversation(owner: string, conversationId: string): Promise<HistoryMessage[] | undefined> {
    const rows = await this.sql<PgMessageRow[]>`
      SELECT role, content, job_id, created_at FROM messages
      WHERE owner = ${owner} AND conversation_id = ${conversationId} ORDER BY id`
    if (rows.length > 0) return rows.map(messageFromPg)
    return (await this.hasOpenJobs(this.sql, owner, conversationId)) ? [] : undefined
  }

  private async hasOpenJobs(sql: SQL, owner: string, conversationId: string): Promise<boolean> {
    const [row] = await sql`
      SELECT 1 FROM conversations WHERE owner = ${owner} AND id = ${conversationId} AND open_jobs > 0`
    return row !== undefined
  }

  /**
   * Forgets the history. The conversation's counters stay, so sequence numbers keep rising
   * and messages still in line keep their order.
   */
  async deleteConversation(owner: string, conversationId: string): Promise<boolean> {
    return this.sql.begin(async (tx): Promise<boolean> => {
      const deleted =
        await tx`DELETE FROM messages WHERE owner = ${owner} AND conversation_id = ${conversationId}`
      return deleted.count > 0 || (await this.hasOpenJobs(tx, owner, conversationId))
    })
  }

  async countOpenJobs(): Promise<OpenJobCounts> {
    // One partial index each (see the SQLite store): finished history is never read.
    const [row] = await this.sql<
      { due_or_running: string; waiting: string; processing: string; delivering: string }[]
    >`
      SELECT
        (SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'processing') AND NOT waiting) AS due_or_running,
        (SELECT COUNT(*) FROM jobs WHERE waiting) AS waiting,
        (SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL AND status = 'processing') AS processing,
        (SELECT COUNT(*) FROM jobs WHERE status = 'delivering') AS delivering`
    if (!row) throw new Error('the open-job count returned nothing')
    return openJobCounts({
      dueOrRunning: Number(row.due_or_running),
      waiting: Number(row.waiting),
      processing: Number(row.processing),
      delivering: Number(row.delivering),
    })
  }

  async purgeFinishedJobs(before: number): Promise<number> {
    // One statement, so a job redelivered meanwhile keeps both itself and its attempts.
    const [row] = await this.sql<{ n: string }[]>`
      WITH gone AS (
        DELETE FROM jobs WHERE status IN ('delivered', 'dead') AND updated_at < ${before} RETURNING id
      ), attempts AS (
        DELETE FROM delivery_attempts WHERE job_id IN (SELECT id FROM gone)
      )
      SELECT COUNT(*) AS n FROM gone`
    return Number(row?.n ?? 0)
  }

  async purgeHistory(before: number): Promise<number> {
    const result = await this.sql`DELETE FROM messages WHERE created_at < ${before}`
    return result.count
  }

  /** Nothing to do: autovacuum keeps statistics and reclaims space, and there is no WAL to checkpoint by hand. */
  async maintain(): Promise<void> {}

  async nextWakeAt(now: number): Promise<number | undefined> {
    const [row] = await this.sql<{ at: string | null }[]>`
      SELECT LEAST(
        (SELECT MIN(available_at) FROM jobs
         WHERE status IN ('queued', 'processing') AND NOT waiting AND available_at > ${now}),
        (SELECT MIN(available_at) FROM jobs WHERE status = 'delivering' AND available_at > ${now})) AS at`
    return row?.at == null ? undefined : Number(row.at)
  }

  async releaseLeases(workerId: string, now: number): Promise<number> {
    return this.sql.begin(async (tx): Promise<number> => {
      const result = await tx`
        UPDATE jobs SET lease_owner = NULL, available_at = ${now}, updated_at = ${now},
          llm_attempts = CASE WHEN status = 'processing' THEN llm_attempts - 1 ELSE llm_attempts END,
          status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
        WHERE lease_owner = ${workerId} AND status IN ('processing', 'delivering')`
      // The jobs are due now: other instances take them at once instead of at their next timer.
      if (result.count > 0) await this.wakeOthers(tx)
      return result.count
    })
  }

  async ping(): Promise<boolean> {
    const [row] = await this.sql`SELECT 1 AS ok`
    return row !== undefined
  }

  async close(): Promise<void> {
    const subscriptions = [...this.subscriptions]
    this.subscriptions.clear()
    await Promise.all(subscriptions.map((s) => s.unlisten()))
    await this.sql.close()
  }
}

/** Applies the missing migrations in one transaction, under a lock every instance takes. */
async function migrate(sql: SQL, schema: string | undefined): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtextextended('llm-relay schema migrations', 0))`
    // The name was checked against SCHEMA_NAME, so it needs no quoting.
    if (schema !== undefined) await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations
      (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`
    const rows = await tx<{ version: number }[]>`SELECT version FROM schema_migrations`
    const applied = new Set(rows.map((r) => r.version))
    for (const m of postgresMigrations) {
      if (applied.has(m.version)) continue
      await tx.unsafe(m.sql)
      await tx`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${m.version}, ${m.name}, ${Date.now()})`
    }
  })
}

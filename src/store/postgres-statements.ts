/**
 * Every statement of the PostgreSQL store, named for the transition it makes (src/job.ts)
 * or the read it serves; the same names as sqlite-statements.ts. A transition's WHERE names
 * its from-status, so a job in any other status is left alone. Run with `unsafe(text,
 * values)`: the values are bound parameters, only the text is fixed here.
 * `test/store-plans.test.ts` EXPLAINs them and fails on a sequential scan. Longer than most
 * files on purpose: every statement of the store in one place, beside the lock order below.
 *
 * Locks, in the one order every transaction takes them, so none waits in a cycle: a job row
 * before its conversation row (the end of a turn), and a conversation row before the job
 * row it inserts (accept; that row is new, nobody else can hold it). Claims never wait for a
 * row at all (SKIP LOCKED), nor does the cancel of a job waiting its turn for the
 * conversation row (leaveLine).
 */

const LLM_STAGE = `status IN ('queued', 'processing') AND NOT waiting`
/** Jobs whose job.tool_calls event is to be sent (served by the partial index jobs_tool_calls_due). */
const TOOL_CALLS_PENDING = `status = 'awaiting_tool_results' AND tool_calls_pending`
/** The statuses whose jobs a worker may hold a lease on. */
const LEASED = `status IN ('processing', 'awaiting_tool_results', 'delivering')`

const WHY_DEAD = (column: 'error_code' | 'error_message') =>
  `CASE WHEN jobs.status = 'dead' AND jobs.error_code IS NULL THEN
     (SELECT d.${column} FROM delivery_attempts d WHERE d.job_id = jobs.id ORDER BY d.attempt DESC LIMIT 1)
   END AS last_delivery_${column}`

export const POSTGRES_STATEMENTS = {
  findByIdempotencyKey: 'SELECT * FROM jobs WHERE owner = $1 AND idempotency_key = $2',
  /**
   * Locks the conversation row until commit: accepts and turn ends of one conversation run
   * one after the other, and `seq` follows `sequence` within a conversation.
   */
  openConversationTurn: `INSERT INTO conversations (owner, id, last_sequence, open_jobs, created_at, last_message_at)
    VALUES ($1, $2, 1, 1, $3, $3)
    ON CONFLICT (owner, id) DO UPDATE SET last_sequence = conversations.last_sequence + 1,
      open_jobs = conversations.open_jobs + 1, last_message_at = $3
    RETURNING last_sequence, open_jobs`,
  /** A concurrent accept with the same key that committed first makes this a no-op (no row back). */
  accepted: `INSERT INTO jobs (id, owner, conversation_id, sequence, status, waiting, available_at, message,
      callback_url, model, system_prompt, metadata, idempotency_key, request_hash, llm_parameters, trace_context,
      created_at, updated_at, callback_headers, callback_header_names, callback_origin)
    VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $6, $6, $16, $17, $18)
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *`,
  /**
   * accepted and claimed: instead of `accepted`, for the head of its conversation (the turn's
   * open_jobs is 1, under the conversation row lock) when the accepting process has a free LLM
   * slot: inserted as a claim would leave it (processing, leased to $19 until $20, one attempt).
   */
  acceptedAndClaimed: `INSERT INTO jobs (id, owner, conversation_id, sequence, status, waiting, available_at,
      message, callback_url, model, system_prompt, metadata, idempotency_key, request_hash, llm_parameters,
      trace_context, created_at, updated_at, callback_headers, callback_header_names, callback_origin,
      lease_owner, llm_attempts)
    VALUES ($1, $2, $3, $4, 'processing', $5, $20, $7, $8, $9, $10, $11, $12, $13, $14, $15, $6, $6, $16, $17, $18,
      $19, 1)
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *`,

  /*
   * claimed (LLM stage): queued → processing. The subquery locks the rows it picks with
   * FOR UPDATE SKIP LOCKED: a row another claimer holds is passed over instead of waited
   * for, so instances claiming at the same instant take different jobs. A row changed since
   * this statement's snapshot is re-checked against the WHERE once locked (READ COMMITTED),
   * so a job answered or claimed a moment ago is not taken. Only the head of a conversation
   * has `waiting` false, so at most one job per conversation is taken; the conversation row
   * lock taken by accept and by the end of a turn (endTurn) keeps `waiting` true for the
   * rest. `processing` past its lease is the lease-expired case, claimed with one more
   * attempt. Served by the partial index jobs_llm_due in due order.
   */
  claimLlmStage: `UPDATE jobs SET status = 'processing', lease_owner = $1, available_at = $2,
      llm_attempts = llm_attempts + 1, updated_at = $3
    WHERE seq IN (SELECT seq FROM jobs WHERE ${LLM_STAGE} AND available_at <= $3
                  ORDER BY available_at, seq LIMIT $4
                  FOR UPDATE SKIP LOCKED)
    RETURNING *`,
  dueLlmOwners: `SELECT DISTINCT owner FROM jobs WHERE ${LLM_STAGE} AND available_at <= $1`,
  /** claimed (LLM stage, fair share): one owner's oldest due head; the same SKIP LOCKED argument. */
  claimLlmHeadOf: `UPDATE jobs SET status = 'processing', lease_owner = $1, available_at = $2,
      llm_attempts = llm_attempts + 1, updated_at = $3
    WHERE seq = (SELECT seq FROM jobs WHERE ${LLM_STAGE} AND available_at <= $3 AND owner = $4
                 ORDER BY available_at, seq LIMIT 1
                 FOR UPDATE SKIP LOCKED)
    RETURNING *`,
  /** claimed (delivery stage): delivering → delivering, leased; the same SKIP LOCKED argument. */
  claimDeliveryStage: `UPDATE jobs SET lease_owner = $1, available_at = $2, updated_at = $3
    WHERE seq IN (SELECT seq FROM jobs WHERE status = 'delivering' AND available_at <= $3
                  ORDER BY available_at LIMIT $4
                  FOR UPDATE SKIP LOCKED)
    RETURNING *`,
  /** claimed (the job.tool_calls event): awaiting_tool_results → awaiting_tool_results, leased; SKIP LOCKED too. */
  claimToolCallsEvent: `UPDATE jobs SET lease_owner = $1, available_at = $2, updated_at = $3
    WHERE seq IN (SELECT seq FROM jobs WHERE ${TOOL_CALLS_PENDING} AND available_at <= $3
                  ORDER BY available_at LIMIT $4
                  FOR UPDATE SKIP LOCKED)
    RETURNING *`,
  renewLease: `UPDATE jobs SET available_at = $1
    WHERE id = $2 AND lease_owner = $3 AND ${LEASED}`,

  answered: `UPDATE jobs SET status = 'delivering', response = $1, model = $2, usage = $3, error_code = NULL,
      error_message = NULL, completed_at = $4, updated_at = $4, output = $7, prompt_tokens = $8,
      rejected_answer = NULL
    WHERE id = $5 AND lease_owner = $6 AND status = 'processing'
    RETURNING *`,
  usageCounted: `INSERT INTO usage_daily (day, owner, model, jobs, prompt_tokens, completion_tokens, total_tokens, cost)
    VALUES ($1, $2, $3, 1, $4, $5, $6, $7::double precision)
    ON CONFLICT (day, owner, model) DO UPDATE SET jobs = usage_daily.jobs + 1,
      prompt_tokens = usage_daily.prompt_tokens + $4, completion_tokens = usage_daily.completion_tokens + $5,
      total_tokens = usage_daily.total_tokens + $6,
      cost = CASE WHEN $7::double precision IS NULL THEN usage_daily.cost
        ELSE COALESCE(usage_daily.cost, 0) + $7::double precision END`,
  appendHistory: `INSERT INTO messages (owner, conversation_id, role, content, job_id, created_at, tokens, tool_rounds)
    VALUES ($1, $2, 'user', $3, $4, $5, $8, NULL), ($1, $2, 'assistant', $6, $4, $7, $9, $10)
    ON CONFLICT (job_id, role) DO NOTHING`,
  /*
   * The end of a conversation's turn (answered, llm failed, cancelled). This UPDATE comes first on
   * purpose: it waits for an accept of this conversation still in flight (that accept holds
   * the row lock), so nextInLine's snapshot sees the job it inserted. An accept that comes
   * after sees the decremented counter instead.
   */
  endTurn:
    'UPDATE conversations SET open_jobs = open_jobs - 1 WHERE owner = $1 AND id = $2 RETURNING open_jobs',
  nextInLine: `UPDATE jobs SET waiting = false WHERE seq =
      (SELECT seq FROM jobs WHERE owner = $1 AND conversation_id = $2 AND waiting ORDER BY seq LIMIT 1)`,
  llmRetry: `UPDATE jobs SET status = 'queued', lease_owner = NULL, available_at = $1, error_code = $2,
      error_message = $3, llm_attempts = llm_attempts - $4, updated_at = $5,
      rejected_answer = COALESCE($8, rejected_answer)
    WHERE id = $6 AND lease_owner = $7 AND status = 'processing'`,
  llmFailed: `UPDATE jobs SET status = 'delivering', error_code = $1, error_message = $2, completed_at = $3,
      updated_at = $3
    WHERE id = $4 AND lease_owner = $5 AND status = 'processing'
    RETURNING *`,

  /** tool calls: the rounds so far with the new one, which only the lease holder of a processing job writes. */
  toolCalls: `UPDATE jobs SET status = 'awaiting_tool_results', tool_rounds = $1, usage = $2,
      tool_results_due_at = $3, tool_calls_pending = true, delivery_failures = 0, error_code = NULL,
      error_message = NULL, rejected_answer = NULL, prompt_tokens = COALESCE($4, prompt_tokens), updated_at = $5
    WHERE id = $6 AND lease_owner = $7 AND status = 'processing'
    RETURNING *`,
  /*
   * tool calls attempt: one of these three with insertDeliveryAttempt, in one transaction. Only
   * for the round the event belongs to: its results may have come and the next round begun
   * while it was sent, under the same worker's lease.
   */
  toolCallsDelivered: `UPDATE jobs SET tool_calls_pending = false, lease_owner = NULL,
      available_at = tool_results_due_at, delivery_attempts = delivery_attempts + 1, delivery_failures = 0,
      updated_at = $1
    WHERE id = $2 AND lease_owner = $3 AND status = 'awaiting_tool_results'
      AND json_array_length(tool_rounds::json) = $4 RETURNING delivery_attempts`,
  toolCallsRetry: `UPDATE jobs SET lease_owner = NULL, available_at = $5,
      delivery_attempts = delivery_attempts + 1, delivery_failures = delivery_failures + 1, updated_at = $1
    WHERE id = $2 AND lease_owner = $3 AND status = 'awaiting_tool_results'
      AND json_array_length(tool_rounds::json) = $4 RETURNING delivery_attempts`,
  toolCallsGivenUp: `UPDATE jobs SET tool_calls_pending = false, lease_owner = NULL,
      available_at = tool_results_due_at, delivery_attempts = delivery_attempts + 1,
      delivery_failures = delivery_failures + 1, updated_at = $1
    WHERE id = $2 AND lease_owner = $3 AND status = 'awaiting_tool_results'
      AND json_array_length(tool_rounds::json) = $4 RETURNING delivery_attempts`,
  /** tool results submitted: the row locked, checked, then written back with the results in. */
  awaitingJobLocked: 'SELECT * FROM jobs WHERE id = $1 AND owner = $2 FOR UPDATE',
  toolResultsSubmitted: `UPDATE jobs SET status = 'queued', tool_rounds = $1, lease_owner = NULL, available_at = $2,
      tool_calls_pending = false, tool_results_due_at = NULL, delivery_failures = 0, updated_at = $2
    WHERE id = $3 AND owner = $4 AND status = 'awaiting_tool_results'
    RETURNING *`,
  toolResultsDue: `SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'awaiting_tool_results'
      AND tool_results_due_at <= $1) AS due`,
  /**
   * tool results timeout, with endTurn for each job it returns (job rows first, then their
   * conversation rows: the lock order). Served by jobs_tool_results_due; SKIP LOCKED, so two
   * instances sweeping at once fail each job once.
   */
  toolResultsTimedOut: `UPDATE jobs SET status = 'delivering', error_code = $1, error_message = $2, completed_at = $3,
      updated_at = $3, available_at = $3, lease_owner = NULL, tool_calls_pending = false, delivery_failures = 0
    WHERE seq IN (SELECT seq FROM jobs WHERE status = 'awaiting_tool_results' AND tool_results_due_at <= $3
                  FOR UPDATE SKIP LOCKED)
    RETURNING id, owner, conversation_id`,

  delivered: `UPDATE jobs SET status = 'delivered', lease_owner = NULL, available_at = $1,
      delivery_attempts = delivery_attempts + 1, delivery_failures = 0, updated_at = $1
    WHERE id = $2 AND lease_owner = $3 AND status = 'delivering' RETURNING delivery_attempts`,
  deliveryRetry: `UPDATE jobs SET lease_owner = NULL, available_at = $4,
      delivery_attempts = delivery_attempts + 1, delivery_failures = delivery_failures + 1, updated_at = $1
    WHERE id = $2 AND lease_owner = $3 AND status = 'delivering' RETURNING delivery_attempts`,
  dead: `UPDATE jobs SET status = 'dead', lease_owner = NULL, available_at = $1,
      delivery_attempts = delivery_attempts + 1, delivery_failures = delivery_failures + 1, updated_at = $1
    WHERE id = $2 AND lease_owner = $3 AND status = 'delivering' RETURNING delivery_attempts`,
  insertDeliveryAttempt: `INSERT INTO delivery_attempts
      (job_id, attempt, at, status_code, error_code, error_message, duration_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7)`,
  redelivered: `UPDATE jobs SET status = 'delivering', available_at = $1, delivery_failures = 0, lease_owner = NULL,
      updated_at = $1
    WHERE id = $2 AND owner = $3 AND status IN ('delivered', 'dead')`,

  /*
   * cancelled: one transaction. cancelTarget locks the job row first, as every end of a
   * turn does, so its status and `waiting` hold still (nextInLine changes `waiting` only with
   * that row locked). The head of a conversation then ends its turn with endTurn and
   * nextInLine. A job waiting its turn leaves the line with leaveLine, which takes the
   * conversation row only if nobody holds it: an end of turn holding it may be waiting for
   * this very job row (its nextInLine), and waiting for each other would deadlock. When the
   * row is taken, the transaction is rolled back and tried again.
   */
  cancelTarget: 'SELECT status, waiting, conversation_id FROM jobs WHERE id = $1 AND owner = $2 FOR UPDATE',
  leaveLine: `UPDATE conversations SET open_jobs = open_jobs - 1 WHERE (owner, id) IN
      (SELECT owner, id FROM conversations WHERE owner = $1 AND id = $2 FOR UPDATE SKIP LOCKED)`,
  cancelledFromQueued: `UPDATE jobs SET status = 'cancelled', waiting = false, updated_at = $1
    WHERE id = $2 AND owner = $3 AND status = 'queued' RETURNING *`,
  cancelledFromProcessing: `UPDATE jobs SET status = 'cancelled', lease_owner = NULL, updated_at = $1
    WHERE id = $2 AND owner = $3 AND status = 'processing' RETURNING *`,
  cancelledFromDelivering: `UPDATE jobs SET status = 'cancelled', lease_owner = NULL, updated_at = $1
    WHERE id = $2 AND owner = $3 AND status = 'delivering' RETURNING *`,
  cancelledFromAwaitingToolResults: `UPDATE jobs SET status = 'cancelled', lease_owner = NULL,
      tool_calls_pending = false, updated_at = $1
    WHERE id = $2 AND owner = $3 AND status = 'awaiting_tool_results' RETURNING *`,
  leaseHeld: `SELECT 1 FROM jobs WHERE id = $1 AND lease_owner = $2 AND ${LEASED}`,
  /** `Prefer: wait`'s poll: the ids as one text[] parameter, each found through the unique index on id. */
  settledAmong: `SELECT id FROM jobs WHERE id = ANY($1::text[]) AND status NOT IN ('queued', 'processing')`,

  deliveryDeferred: `UPDATE jobs SET lease_owner = NULL, available_at = $1, updated_at = $2
    WHERE id = $3 AND lease_owner = $4 AND status IN ('delivering', 'awaiting_tool_results')`,
  leaseReleased: `UPDATE jobs SET lease_owner = NULL, available_at = $1, updated_at = $1,
      llm_attempts = CASE WHEN status = 'processing' THEN llm_attempts - 1 ELSE llm_attempts END,
      status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
    WHERE id = $2 AND lease_owner = $3 AND ${LEASED}`,
  leasesReleased: `UPDATE jobs SET lease_owner = NULL, available_at = $1, updated_at = $1,
      llm_attempts = CASE WHEN status = 'processing' THEN llm_attempts - 1 ELSE llm_attempts END,
      status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
    WHERE lease_owner = $2 AND ${LEASED}`,

  /**
   * Inserts this instance's row or moves its heartbeat on; after a gap longer than $3 its
   * unbroken run starts again. `known` is false for a new row, or one deleted as dead.
   */
  heartbeat: `INSERT INTO instances (worker_id, alive_since, heartbeat_at) VALUES ($1, $2, $2)
    ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = $2,
      alive_since = CASE WHEN instances.heartbeat_at < $2::bigint - $3::bigint THEN $2 ELSE instances.alive_since END
    RETURNING (xmax <> 0) AS known`,
  /**
   * lease expired, written at once for instances silent for $2: their rows go and their
   * jobs are due now, attempts still counted (a job that kills its process runs out of
   * attempts). Only an instance that has itself beaten without a gap for that long judges:
   * after an outage of the database every heartbeat is old, and the first instance back must
   * not take the jobs of the others, who are alive. One statement, so two instances
   * recovering at once expire each lease once.
   */
  leasesOfSilentInstancesExpired: `WITH judge AS (
      SELECT 1 FROM instances WHERE worker_id = $3 AND alive_since <= $1::bigint - $2::bigint
        AND heartbeat_at >= $1::bigint - $2::bigint
    ), silent AS (
      DELETE FROM instances WHERE heartbeat_at < $1::bigint - $2::bigint AND worker_id <> $3
        AND EXISTS (SELECT 1 FROM judge)
      RETURNING worker_id)
    UPDATE jobs SET lease_owner = NULL, available_at = $1, updated_at = $1,
      status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
    WHERE lease_owner IN (SELECT worker_id FROM silent) AND ${LEASED}`,

  jobById: `SELECT jobs.*, ${WHY_DEAD('error_code')}, ${WHY_DEAD('error_message')}
    FROM jobs WHERE id = $1 AND owner = $2`,
  jobExists: 'SELECT 1 FROM jobs WHERE id = $1 AND owner = $2',
  /** For an operator acting on any owner's job (the listings' statements: job-listing.ts). */
  jobOwner: 'SELECT owner FROM jobs WHERE id = $1',
  deliveryAttempts: 'SELECT * FROM delivery_attempts WHERE job_id = $1 ORDER BY attempt',
  readHistory: `SELECT role, content, job_id, created_at, tokens, tool_rounds FROM
      (SELECT id, role, content, job_id, created_at, tokens, tool_rounds FROM messages
       WHERE owner = $1 AND conversation_id = $2 ORDER BY id DESC LIMIT $3) AS newest
    ORDER BY id`,
  readConversation: `SELECT role, content, job_id, created_at, tool_rounds FROM messages
    WHERE owner = $1 AND conversation_id = $2 ORDER BY id`,
  hasOpenJobs: 'SELECT 1 FROM conversations WHERE owner = $1 AND id = $2 AND open_jobs > 0',
  deleteHistory: 'DELETE FROM messages WHERE owner = $1 AND conversation_id = $2',
  nextWakeAt: `SELECT LEAST(
      (SELECT MIN(available_at) FROM jobs WHERE ${LLM_STAGE} AND available_at > $1),
      (SELECT MIN(available_at) FROM jobs WHERE status = 'delivering' AND available_at > $1),
      (SELECT MIN(available_at) FROM jobs WHERE ${TOOL_CALLS_PENDING} AND available_at > $1),
      (SELECT MIN(tool_results_due_at) FROM jobs
        WHERE status = 'awaiting_tool_results' AND tool_results_due_at > $1)) AS at`,
  /** One partial index each (see the SQLite store): finished history is never read. */
  countOpen: `SELECT
      (SELECT COUNT(*) FROM jobs WHERE ${LLM_STAGE}) AS due_or_running,
      (SELECT COUNT(*) FROM jobs WHERE waiting) AS waiting,
      (SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL AND status = 'processing') AS processing,
      (SELECT COUNT(*) FROM jobs WHERE status = 'awaiting_tool_results') AS awaiting_tool_results,
      (SELECT COUNT(*) FROM jobs WHERE status = 'delivering') AS delivering`,
  /** One statement, so a job redelivered meanwhile keeps both itself and its attempts. */
  purgeFinishedJobs: `WITH gone AS (
      DELETE FROM jobs WHERE status IN ('delivered', 'dead', 'cancelled') AND updated_at < $1 RETURNING id
    ), attempts AS (
      DELETE FROM delivery_attempts WHERE job_id IN (SELECT id FROM gone)
    )
    SELECT COUNT(*) AS n FROM gone`,
  purgeHistory: 'DELETE FROM messages WHERE created_at < $1',
} as const

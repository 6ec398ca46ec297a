/**
 * Every statement of the SQLite store, named for the transition it makes (src/job.ts) or the
 * read it serves. A transition's WHERE names its from-status, so a job in any other status
 * is left alone and the caller learns it from `changes` or an empty RETURNING.
 * `bench/curves.ts` prints their EXPLAIN QUERY PLAN and `test/store-plans.test.ts` fails on
 * a table scan. Longer than most files on purpose: every statement of the store in one place,
 * so an index and each query that needs it are read together.
 */

/** Jobs the LLM stage may take: queued ones, and processing ones once their lease ran out. */
const LLM_STAGE = `status IN ('queued', 'processing') AND waiting = 0`

/** Jobs whose job.tool_calls event is to be sent (served by the partial index jobs_tool_calls_due). */
const TOOL_CALLS_PENDING = `status = 'awaiting_tool_results' AND tool_calls_pending = 1`

/** The statuses whose jobs a worker may hold a lease on. */
const LEASED = `status IN ('processing', 'awaiting_tool_results', 'delivering')`

/** The last delivery error of a dead job that has no error of its own: why it died. */
const WHY_DEAD = (column: 'error_code' | 'error_message') =>
  `CASE WHEN jobs.status = 'dead' AND jobs.error_code IS NULL THEN
     (SELECT d.${column} FROM delivery_attempts d WHERE d.job_id = jobs.id ORDER BY d.attempt DESC LIMIT 1)
   END AS last_delivery_${column}`

export const SQLITE_STATEMENTS = {
  // accepted: one transaction of these three (see SqliteStore.acceptJob).
  findByIdempotencyKey: 'SELECT * FROM jobs WHERE owner = ?1 AND idempotency_key = ?2',
  openConversationTurn: `INSERT INTO conversations (owner, id, last_sequence, open_jobs, created_at, last_message_at)
    VALUES (?1, ?2, 1, 1, ?3, ?3)
    ON CONFLICT (owner, id) DO UPDATE SET last_sequence = last_sequence + 1, open_jobs = open_jobs + 1,
      last_message_at = ?3
    RETURNING last_sequence, open_jobs`,
  accepted: `INSERT INTO jobs (id, owner, conversation_id, sequence, status, waiting, available_at, message,
      callback_url, model, system_prompt, metadata, idempotency_key, request_hash, llm_parameters, trace_context,
      created_at, updated_at, callback_headers, callback_header_names, callback_origin)
    VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?6, ?6, ?16, ?17, ?18)`,
  /**
   * accepted and claimed: instead of `accepted`, for the head of its conversation (the turn's
   * open_jobs is 1) when the accepting process has a free LLM slot: inserted as a claim would
   * leave it (processing, leased to ?19 until ?20, one attempt counted). No claim follows.
   */
  acceptedAndClaimed: `INSERT INTO jobs (id, owner, conversation_id, sequence, status, waiting, available_at,
      message, callback_url, model, system_prompt, metadata, idempotency_key, request_hash, llm_parameters,
      trace_context, created_at, updated_at, callback_headers, callback_header_names, callback_origin,
      lease_owner, llm_attempts)
    VALUES (?1, ?2, ?3, ?4, 'processing', 0, ?20, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?6, ?6, ?16, ?17,
      ?18, ?19, 1)`,

  /** Is any job due for the LLM? Cheaper than an UPDATE that finds nothing. */
  llmDue: `SELECT EXISTS (SELECT 1 FROM jobs WHERE ${LLM_STAGE} AND available_at <= ?1) AS due`,
  /*
   * claimed (LLM stage): queued → processing. SQLite has one writer at a time, and every
   * write runs in a BEGIN IMMEDIATE transaction (group-commit.ts), so the subquery and the
   * UPDATE see the same rows and no other claimer can take them in between: no row lock or
   * SKIP LOCKED is needed, also with two processes on one file. `waiting = 0` only holds for
   * the head of a conversation, so at most one job per conversation is taken; `processing`
   * past its lease is the lease-expired case, claimed again with one more attempt.
   * Served by the partial index jobs_llm_due in due order.
   */
  claimLlmStage: `UPDATE jobs SET status = 'processing', lease_owner = ?1, available_at = ?2,
      llm_attempts = llm_attempts + 1, updated_at = ?3
    WHERE seq IN (SELECT seq FROM jobs WHERE ${LLM_STAGE} AND available_at <= ?3
                  ORDER BY available_at, seq LIMIT ?4)
    RETURNING *`,
  /** Fair share: who has a job due for the LLM (read only when LLM_MAX_RPM rations the calls). */
  dueLlmOwners: `SELECT DISTINCT owner FROM jobs WHERE ${LLM_STAGE} AND available_at <= ?1`,
  /** claimed (LLM stage, fair share): one owner's oldest due head, the same transition. */
  claimLlmHeadOf: `UPDATE jobs SET status = 'processing', lease_owner = ?1, available_at = ?2,
      llm_attempts = llm_attempts + 1, updated_at = ?3
    WHERE seq = (SELECT seq FROM jobs WHERE ${LLM_STAGE} AND available_at <= ?3 AND owner = ?4
                 ORDER BY available_at, seq LIMIT 1)
    RETURNING *`,
  deliveryDue: `SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'delivering' AND available_at <= ?1) AS due`,
  /** claimed (delivery stage): delivering → delivering, leased; same single-writer argument. */
  claimDeliveryStage: `UPDATE jobs SET lease_owner = ?1, available_at = ?2, updated_at = ?3
    WHERE seq IN (SELECT seq FROM jobs WHERE status = 'delivering' AND available_at <= ?3
                  ORDER BY available_at LIMIT ?4)
    RETURNING *`,
  toolCallsDue: `SELECT EXISTS (SELECT 1 FROM jobs WHERE ${TOOL_CALLS_PENDING} AND available_at <= ?1) AS due`,
  /** claimed (the job.tool_calls event): awaiting_tool_results → awaiting_tool_results, leased; the same argument. */
  claimToolCallsEvent: `UPDATE jobs SET lease_owner = ?1, available_at = ?2, updated_at = ?3
    WHERE seq IN (SELECT seq FROM jobs WHERE ${TOOL_CALLS_PENDING} AND available_at <= ?3
                  ORDER BY available_at LIMIT ?4)
    RETURNING *`,
  /** Not a transition: the holder keeps its job for longer (an expired lease nobody took yet included). */
  renewLease: `UPDATE jobs SET available_at = ?1
    WHERE id = ?2 AND lease_owner = ?3 AND ${LEASED}`,

  answered: `UPDATE jobs SET status = 'delivering', response = ?1, model = ?2, usage = ?3, error_code = NULL,
      error_message = NULL, completed_at = ?4, updated_at = ?4, output = ?7, prompt_tokens = ?8,
      rejected_answer = NULL
    WHERE id = ?5 AND lease_owner = ?6 AND status = 'processing' RETURNING *`,
  /** answered, too: the answer's tokens and cost added to its owner's day. */
  usageCounted: `INSERT INTO usage_daily (day, owner, model, jobs, prompt_tokens, completion_tokens, total_tokens, cost)
    VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7)
    ON CONFLICT (day, owner, model) DO UPDATE SET jobs = jobs + 1, prompt_tokens = prompt_tokens + ?4,
      completion_tokens = completion_tokens + ?5, total_tokens = total_tokens + ?6,
      cost = CASE WHEN ?7 IS NULL THEN cost ELSE COALESCE(cost, 0) + ?7 END`,
  appendHistory: `INSERT INTO messages (owner, conversation_id, role, content, job_id, created_at, tokens, tool_rounds)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (job_id, role) DO NOTHING`,
  /** The end of a conversation's turn (answered, llm failed, cancelled): these two let its next message go. */
  endTurn:
    'UPDATE conversations SET open_jobs = open_jobs - 1 WHERE owner = ?1 AND id = ?2 RETURNING open_jobs',
  nextInLine: `UPDATE jobs SET waiting = 0 WHERE seq =
      (SELECT seq FROM jobs WHERE owner = ?1 AND conversation_id = ?2 AND waiting = 1 ORDER BY seq LIMIT 1)`,
  llmRetry: `UPDATE jobs SET status = 'queued', lease_owner = NULL, available_at = ?1, error_code = ?2,
      error_message = ?3, llm_attempts = llm_attempts - ?4, updated_at = ?5,
      rejected_answer = COALESCE(?8, rejected_answer)
    WHERE id = ?6 AND lease_owner = ?7 AND status = 'processing'`,
  llmFailed: `UPDATE jobs SET status = 'delivering', error_code = ?1, error_message = ?2, completed_at = ?3,
      updated_at = ?3
    WHERE id = ?4 AND lease_owner = ?5 AND status = 'processing' RETURNING *`,

  /** tool calls: the rounds so far with the new one, which only the lease holder of a processing job writes. */
  toolCalls: `UPDATE jobs SET status = 'awaiting_tool_results', tool_rounds = ?1, usage = ?2,
      tool_results_due_at = ?3, tool_calls_pending = 1, delivery_failures = 0, error_code = NULL,
      error_message = NULL, rejected_answer = NULL, prompt_tokens = COALESCE(?4, prompt_tokens), updated_at = ?5
    WHERE id = ?6 AND lease_owner = ?7 AND status = 'processing' RETURNING *`,
  /*
   * tool calls attempt: one of these three with insertDeliveryAttempt, in one transaction. Only
   * for the round the event belongs to: its results may have come and the next round begun
   * while it was sent, under the same worker's lease.
   */
  toolCallsDelivered: `UPDATE jobs SET tool_calls_pending = 0, lease_owner = NULL, available_at = tool_results_due_at,
      delivery_attempts = delivery_attempts + 1, delivery_failures = 0, updated_at = ?1
    WHERE id = ?2 AND lease_owner = ?3 AND status = 'awaiting_tool_results'
      AND json_array_length(tool_rounds) = ?4 RETURNING delivery_attempts`,
  toolCallsRetry: `UPDATE jobs SET lease_owner = NULL, available_at = ?5,
      delivery_attempts = delivery_attempts + 1, delivery_failures = delivery_failures + 1, updated_at = ?1
    WHERE id = ?2 AND lease_owner = ?3 AND status = 'awaiting_tool_results'
      AND json_array_length(tool_rounds) = ?4 RETURNING delivery_attempts`,
  toolCallsGivenUp: `UPDATE jobs SET tool_calls_pending = 0, lease_owner = NULL, available_at = tool_results_due_at,
      delivery_attempts = delivery_attempts + 1, delivery_failures = delivery_failures + 1, updated_at = ?1
    WHERE id = ?2 AND lease_owner = ?3 AND status = 'awaiting_tool_results'
      AND json_array_length(tool_rounds) = ?4 RETURNING delivery_attempts`,
  /**
   * tool results submitted: read with jobById and checked in the same transaction; the rounds
   * written back with the results in. Any lease (an event attempt in flight) is dropped.
   */
  toolResultsSubmitted: `UPDATE jobs SET status = 'queued', tool_rounds = ?1, lease_owner = NULL, available_at = ?2,
      tool_calls_pending = 0, tool_results_due_at = NULL, delivery_failures = 0, updated_at = ?2
    WHERE id = ?3 AND owner = ?4 AND status = 'awaiting_tool_results' RETURNING *`,
  toolResultsDue: `SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'awaiting_tool_results'
      AND tool_results_due_at <= ?1) AS due`,
  /** tool results timeout, with endTurn for each job it returns. Served by jobs_tool_results_due. */
  toolResultsTimedOut: `UPDATE jobs SET status = 'delivering', error_code = ?1, error_message = ?2, completed_at = ?3,
      updated_at = ?3, available_at = ?3, lease_owner = NULL, tool_calls_pending = 0, delivery_failures = 0
    WHERE seq IN (SELECT seq FROM jobs WHERE status = 'awaiting_tool_results' AND tool_results_due_at <= ?3)
    RETURNING id, owner, conversation_id`,

  // delivered, delivery retry, dead: each with insertDeliveryAttempt, in one transaction.
  delivered: `UPDATE jobs SET status = 'delivered', lease_owner = NULL, available_at = ?1,
      delivery_attempts = delivery_attempts + 1, delivery_failures = 0, updated_at = ?1
    WHERE id = ?2 AND lease_owner = ?3 AND status = 'delivering' RETURNING delivery_attempts`,
  deliveryRetry: `UPDATE jobs SET lease_owner = NULL, available_at = ?4,
      delivery_attempts = delivery_attempts + 1, delivery_failures = delivery_failures + 1, updated_at = ?1
    WHERE id = ?2 AND lease_owner = ?3 AND status = 'delivering' RETURNING delivery_attempts`,
  dead: `UPDATE jobs SET status = 'dead', lease_owner = NULL, available_at = ?1,
      delivery_attempts = delivery_attempts + 1, delivery_failures = delivery_failures + 1, updated_at = ?1
    WHERE id = ?2 AND lease_owner = ?3 AND status = 'delivering' RETURNING delivery_attempts`,
  insertDeliveryAttempt: `INSERT INTO delivery_attempts
      (job_id, attempt, at, status_code, error_code, error_message, duration_ms)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`,
  redelivered: `UPDATE jobs SET status = 'delivering', available_at = ?1, delivery_failures = 0, lease_owner = NULL,
      updated_at = ?1
    WHERE id = ?2 AND owner = ?3 AND status IN ('delivered', 'dead')`,

  /*
   * cancelled: one transaction that reads the job (cancelTarget), then takes the step its
   * status allows. The head of a conversation ends its turn with endTurn and nextInLine; a
   * job waiting its turn only leaves the line (endTurn alone: one open job fewer, nobody
   * released). `waiting = 0` takes it out of the line's index; the lease goes, so its holder's
   * renewals and writes are refused.
   */
  cancelTarget: 'SELECT status, waiting FROM jobs WHERE id = ?1 AND owner = ?2',
  cancelledFromQueued: `UPDATE jobs SET status = 'cancelled', waiting = 0, updated_at = ?1
    WHERE id = ?2 AND owner = ?3 AND status = 'queued' RETURNING *`,
  cancelledFromProcessing: `UPDATE jobs SET status = 'cancelled', lease_owner = NULL, updated_at = ?1
    WHERE id = ?2 AND owner = ?3 AND status = 'processing' RETURNING *`,
  cancelledFromDelivering: `UPDATE jobs SET status = 'cancelled', lease_owner = NULL, updated_at = ?1
    WHERE id = ?2 AND owner = ?3 AND status = 'delivering' RETURNING *`,
  cancelledFromAwaitingToolResults: `UPDATE jobs SET status = 'cancelled', lease_owner = NULL, tool_calls_pending = 0,
      updated_at = ?1
    WHERE id = ?2 AND owner = ?3 AND status = 'awaiting_tool_results' RETURNING *`,
  /** Not a transition: asked every second while an LLM call runs, so a cancel stops the call. */
  leaseHeld: `SELECT 1 FROM jobs WHERE id = ?1 AND lease_owner = ?2 AND ${LEASED}`,
  /** Not a transition: `Prefer: wait`'s poll. The ids come as one JSON array, so one statement serves any count. */
  settledAmong: `SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?1))
    AND status NOT IN ('queued', 'processing')`,

  /** delivery deferred: delivering stays, no attempt counted. */
  deliveryDeferred: `UPDATE jobs SET lease_owner = NULL, available_at = ?1, updated_at = ?2
    WHERE id = ?3 AND lease_owner = ?4 AND status IN ('delivering', 'awaiting_tool_results')`,
  /**
   * lease released, one job: processing → queued with its attempt given back; delivering and
   * awaiting_tool_results (its event) stay, due now.
   */
  leaseReleased: `UPDATE jobs SET lease_owner = NULL, available_at = ?1, updated_at = ?1,
      llm_attempts = CASE WHEN status = 'processing' THEN llm_attempts - 1 ELSE llm_attempts END,
      status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
    WHERE id = ?2 AND lease_owner = ?3 AND ${LEASED}`,
  /** lease released, every job of one worker (shutdown). */
  leasesReleased: `UPDATE jobs SET lease_owner = NULL, available_at = ?1, updated_at = ?1,
      llm_attempts = CASE WHEN status = 'processing' THEN llm_attempts - 1 ELSE llm_attempts END,
      status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
    WHERE lease_owner = ?2 AND ${LEASED}`,
  /**
   * lease expired, written at once: the holders are known to be dead (sqlite-presence.ts).
   * The attempt stays counted, as when the lease runs out, so a job that kills its process
   * runs out of attempts instead of crashing every restart.
   */
  leasesExpired: `UPDATE jobs SET lease_owner = NULL, available_at = ?1, updated_at = ?1,
      status = CASE WHEN status = 'processing' THEN 'queued' ELSE status END
    WHERE lease_owner IS NOT NULL AND lease_owner <> ?2 AND ${LEASED}`,

  jobById: `SELECT jobs.*, ${WHY_DEAD('error_code')}, ${WHY_DEAD('error_message')}
    FROM jobs WHERE id = ?1 AND owner = ?2`,
  jobExists: 'SELECT 1 FROM jobs WHERE id = ?1 AND owner = ?2',
  /** For an operator acting on any owner's job (the listings' statements: job-listing.ts). */
  jobOwner: 'SELECT owner FROM jobs WHERE id = ?1',
  deliveryAttempts: 'SELECT * FROM delivery_attempts WHERE job_id = ?1 ORDER BY attempt',
  /** Newest first; reversed in JS, which spares SQLite a temporary sort. */
  readHistory: `SELECT role, content, job_id, created_at, tokens, tool_rounds FROM messages
    WHERE owner = ?1 AND conversation_id = ?2 ORDER BY id DESC LIMIT ?3`,
  readConversation: `SELECT role, content, job_id, created_at, tool_rounds FROM messages
    WHERE owner = ?1 AND conversation_id = ?2 ORDER BY id`,
  hasOpenJobs: 'SELECT 1 FROM conversations WHERE owner = ?1 AND id = ?2 AND open_jobs > 0',
  deleteHistory: 'DELETE FROM messages WHERE owner = ?1 AND conversation_id = ?2',
  nextWakeAt: `SELECT MIN(at) AS at FROM (
      SELECT MIN(available_at) AS at FROM jobs WHERE ${LLM_STAGE} AND available_at > ?1
      UNION ALL
      SELECT MIN(available_at) AS at FROM jobs WHERE status = 'delivering' AND available_at > ?1
      UNION ALL
      SELECT MIN(available_at) AS at FROM jobs WHERE ${TOOL_CALLS_PENDING} AND available_at > ?1
      UNION ALL
      SELECT MIN(tool_results_due_at) AS at FROM jobs
        WHERE status = 'awaiting_tool_results' AND tool_results_due_at > ?1)`,
  /** The queue-depth metric: one partial index each, so finished history is never read. */
  countOpen: `SELECT
      (SELECT COUNT(*) FROM jobs WHERE ${LLM_STAGE}) AS dueOrRunning,
      (SELECT COUNT(*) FROM jobs WHERE waiting = 1) AS waiting,
      (SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL AND status = 'processing') AS processing,
      (SELECT COUNT(*) FROM jobs WHERE status = 'awaiting_tool_results') AS awaitingToolResults,
      (SELECT COUNT(*) FROM jobs WHERE status = 'delivering') AS delivering`,
  purgeFinishedAttempts: `DELETE FROM delivery_attempts WHERE job_id IN
      (SELECT id FROM jobs WHERE status IN ('delivered', 'dead', 'cancelled') AND updated_at < ?1)`,
  purgeFinishedJobs: `DELETE FROM jobs WHERE status IN ('delivered', 'dead', 'cancelled') AND updated_at < ?1`,
  purgeHistory: 'DELETE FROM messages WHERE created_at < ?1',
  /** A real write for ping(): a full disk or a lost lock fails it, as it would fail an accept. */
  readinessChecked: 'UPDATE readiness SET checks = checks + 1, checked_at = ?1 WHERE id = 1',
} as const

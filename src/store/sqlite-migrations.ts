// Longer than most files: every migration ever released stays here, append-only, in order.
import type { Database } from 'bun:sqlite'

/**
 * Numbered in order and applied once each, inside one transaction per migration.
 * Kept in code (not .sql files) so the compiled binary carries them. A migration is never
 * edited once released: a new status needs a new migration that widens the CHECK on
 * `jobs.status` (test/store-migrations.test.ts compares it with JOB_STATUSES).
 */
export const sqliteMigrations: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'jobs, conversations, messages, delivery attempts',
    sql: `
CREATE TABLE conversations (
  owner         TEXT    NOT NULL,
  id            TEXT    NOT NULL,
  last_sequence INTEGER NOT NULL,
  -- accepted jobs not yet answered or failed: more than one means the newer ones wait their turn
  open_jobs     INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (owner, id)
) WITHOUT ROWID;

CREATE TABLE jobs (
  seq               INTEGER PRIMARY KEY AUTOINCREMENT, -- acceptance order
  id                TEXT    NOT NULL UNIQUE,
  owner             TEXT    NOT NULL,
  conversation_id   TEXT    NOT NULL,
  sequence          INTEGER NOT NULL,
  status            TEXT    NOT NULL,
  -- 1 while an earlier message of the same conversation is still unanswered
  waiting           INTEGER NOT NULL,
  -- when the job may be claimed: its due time, or while leased, when the lease runs out
  available_at      INTEGER NOT NULL,
  lease_owner       TEXT,
  message           TEXT    NOT NULL,
  callback_url      TEXT    NOT NULL,
  model             TEXT    NOT NULL,
  system_prompt     TEXT    NOT NULL,
  metadata          TEXT,
  response          TEXT,
  error_code        TEXT,
  error_message     TEXT,
  usage             TEXT,
  llm_attempts      INTEGER NOT NULL DEFAULT 0,
  delivery_attempts INTEGER NOT NULL DEFAULT 0,
  delivery_failures INTEGER NOT NULL DEFAULT 0,
  idempotency_key   TEXT,
  request_hash      TEXT    NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  completed_at      INTEGER
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_llm_due ON jobs (available_at, seq) WHERE status IN ('queued', 'processing') AND waiting = 0;
CREATE INDEX jobs_delivery_due ON jobs (available_at) WHERE status = 'delivering';
CREATE INDEX jobs_conversation_waiting ON jobs (owner, conversation_id, seq) WHERE waiting = 1;
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('delivered', 'dead');

CREATE TABLE messages (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  owner           TEXT    NOT NULL,
  conversation_id TEXT    NOT NULL,
  role            TEXT    NOT NULL,
  content         TEXT    NOT NULL,
  job_id          TEXT    NOT NULL,
  created_at      INTEGER NOT NULL,
  UNIQUE (job_id, role)
);
CREATE INDEX messages_conversation ON messages (owner, conversation_id, id);
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE delivery_attempts (
  job_id        TEXT    NOT NULL,
  attempt       INTEGER NOT NULL,
  at            INTEGER NOT NULL,
  status_code   INTEGER,
  error_code    TEXT,
  error_message TEXT,
  duration_ms   INTEGER NOT NULL,
  PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: 'jobs.status limited to the statuses of the transition table',
    // SQLite cannot add a CHECK to a table: the table is rebuilt with it, rows, indexes and
    // the AUTOINCREMENT counter kept (https://sqlite.org/lang_altertable.html#otheralter).
    sql: `
CREATE TABLE jobs_checked (
  seq               INTEGER PRIMARY KEY AUTOINCREMENT, -- acceptance order
  id                TEXT    NOT NULL UNIQUE,
  owner             TEXT    NOT NULL,
  conversation_id   TEXT    NOT NULL,
  sequence          INTEGER NOT NULL,
  status            TEXT    NOT NULL CHECK (status IN ('queued', 'processing', 'delivering', 'delivered', 'dead')),
  -- 1 while an earlier message of the same conversation is still unanswered
  waiting           INTEGER NOT NULL,
  -- when the job may be claimed: its due time, or while leased, when the lease runs out
  available_at      INTEGER NOT NULL,
  lease_owner       TEXT,
  message           TEXT    NOT NULL,
  callback_url      TEXT    NOT NULL,
  model             TEXT    NOT NULL,
  system_prompt     TEXT    NOT NULL,
  metadata          TEXT,
  response          TEXT,
  error_code        TEXT,
  error_message     TEXT,
  usage             TEXT,
  llm_attempts      INTEGER NOT NULL DEFAULT 0,
  delivery_attempts INTEGER NOT NULL DEFAULT 0,
  delivery_failures INTEGER NOT NULL DEFAULT 0,
  idempotency_key   TEXT,
  request_hash      TEXT    NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  completed_at      INTEGER
);
INSERT INTO jobs_checked (seq, id, owner, conversation_id, sequence, status, waiting, available_at, lease_owner, message,
  callback_url, model, system_prompt, metadata, response, error_code, error_message, usage, llm_attempts,
  delivery_attempts, delivery_failures, idempotency_key, request_hash, created_at, updated_at, completed_at)
  SELECT seq, id, owner, conversation_id, sequence, status, waiting, available_at, lease_owner, message,
  callback_url, model, system_prompt, metadata, response, error_code, error_message, usage, llm_attempts,
  delivery_attempts, delivery_failures, idempotency_key, request_hash, created_at, updated_at, completed_at FROM jobs;
-- seq keeps rising past every job ever accepted, purged ones included
DELETE FROM sqlite_sequence WHERE name = 'jobs_checked';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_checked', seq FROM sqlite_sequence WHERE name = 'jobs';
DROP TABLE jobs;
ALTER TABLE jobs_checked RENAME TO jobs;
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_llm_due ON jobs (available_at, seq) WHERE status IN ('queued', 'processing') AND waiting = 0;
CREATE INDEX jobs_delivery_due ON jobs (available_at) WHERE status = 'delivering';
CREATE INDEX jobs_conversation_waiting ON jobs (owner, conversation_id, seq) WHERE waiting = 1;
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('delivered', 'dead');
`,
  },
  {
    version: 3,
    name: 'readiness: the row ping() writes',
    sql: `
CREATE TABLE readiness (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  checks     INTEGER NOT NULL,
  checked_at INTEGER NOT NULL
);
INSERT INTO readiness (id, checks, checked_at) VALUES (1, 0, 0);
`,
  },
  {
    version: 4,
    name: 'per-request LLM parameters, structured output, token counts',
    sql: `
ALTER TABLE jobs ADD COLUMN llm_parameters TEXT;
ALTER TABLE jobs ADD COLUMN output TEXT;
-- an answer that missed its response_format, and why: shown to the model on the one retry
ALTER TABLE jobs ADD COLUMN rejected_answer TEXT;
ALTER TABLE jobs ADD COLUMN prompt_tokens INTEGER;
-- counted once as the message joined history (HISTORY_MAX_TOKENS); NULL for older messages
ALTER TABLE messages ADD COLUMN tokens INTEGER;
`,
  },
  {
    version: 5,
    name: 'jobs.status may be cancelled; cancelled jobs are purged with the finished ones',
    // The table is rebuilt to widen its CHECK, as in migration 2: rows, indexes and the
    // AUTOINCREMENT counter kept.
    sql: `
CREATE TABLE jobs_checked (
  seq               INTEGER PRIMARY KEY AUTOINCREMENT, -- acceptance order
  id                TEXT    NOT NULL UNIQUE,
  owner             TEXT    NOT NULL,
  conversation_id   TEXT    NOT NULL,
  sequence          INTEGER NOT NULL,
  status            TEXT    NOT NULL
    CHECK (status IN ('queued', 'processing', 'delivering', 'delivered', 'dead', 'cancelled')),
  -- 1 while an earlier message of the same conversation is still unanswered
  waiting           INTEGER NOT NULL,
  -- when the job may be claimed: its due time, or while leased, when the lease runs out
  available_at      INTEGER NOT NULL,
  lease_owner       TEXT,
  message           TEXT    NOT NULL,
  callback_url      TEXT    NOT NULL,
  model             TEXT    NOT NULL,
  system_prompt     TEXT    NOT NULL,
  metadata          TEXT,
  response          TEXT,
  error_code        TEXT,
  error_message     TEXT,
  usage             TEXT,
  llm_attempts      INTEGER NOT NULL DEFAULT 0,
  delivery_attempts INTEGER NOT NULL DEFAULT 0,
  delivery_failures INTEGER NOT NULL DEFAULT 0,
  idempotency_key   TEXT,
  request_hash      TEXT    NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  completed_at      INTEGER,
  llm_parameters    TEXT,
  output            TEXT,
  -- an answer that missed its response_format, and why: shown to the model on the one retry
  rejected_answer   TEXT,
  prompt_tokens     INTEGER
);
INSERT INTO jobs_checked (seq, id, owner, conversation_id, sequence, status, waiting, available_at, lease_owner, message,
  callback_url, model, system_prompt, metadata, response, error_code, error_message, usage, llm_attempts,
  delivery_attempts, delivery_failures, idempotency_key, request_hash, created_at, updated_at, completed_at,
  llm_parameters, output, rejected_answer, prompt_tokens)
  SELECT seq, id, owner, conversation_id, sequence, status, waiting, available_at, lease_owner, message,
  callback_url, model, system_prompt, metadata, response, error_code, error_message, usage, llm_attempts,
  delivery_attempts, delivery_failures, idempotency_key, request_hash, created_at, updated_at, completed_at,
  llm_parameters, output, rejected_answer, prompt_tokens FROM jobs;
-- seq keeps rising past every job ever accepted, purged ones included
DELETE FROM sqlite_sequence WHERE name = 'jobs_checked';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_checked', seq FROM sqlite_sequence WHERE name = 'jobs';
DROP TABLE jobs;
ALTER TABLE jobs_checked RENAME TO jobs;
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_llm_due ON jobs (available_at, seq) WHERE status IN ('queued', 'processing') AND waiting = 0;
CREATE INDEX jobs_delivery_due ON jobs (available_at) WHERE status = 'delivering';
CREATE INDEX jobs_conversation_waiting ON jobs (owner, conversation_id, seq) WHERE waiting = 1;
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('delivered', 'dead', 'cancelled');
`,
  },
  {
    version: 6,
    name: 'listing: indexes for GET /jobs and GET /conversations',
    // GET /jobs reads ranges of these (src/store/job-listing.ts); two only, as each costs every
    // accept a write. seq is the rowid, which ends every SQLite index: (…, created_at) orders
    // by (created_at, seq). A later migration that rebuilds jobs must create them again.
    sql: `
CREATE INDEX jobs_owner_status_created ON jobs (owner, status, created_at);
CREATE INDEX jobs_owner_conversation_created ON jobs (owner, conversation_id, created_at);
-- When the conversation's latest message was accepted: openConversationTurn sets it.
ALTER TABLE conversations ADD COLUMN last_message_at INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET last_message_at = COALESCE(
  (SELECT MAX(j.created_at) FROM jobs j WHERE j.owner = conversations.owner AND j.conversation_id = conversations.id),
  created_at);
CREATE INDEX conversations_owner_active ON conversations (owner, last_message_at, id);
`,
  },
  {
    version: 7,
    name: 'trace context',
    sql: `
-- the W3C trace context of the request that made the job (traceparent, a newline, tracestate):
-- the parent of each of its LLM and callback attempts' spans; NULL without OTEL_EXPORTER_OTLP_ENDPOINT
ALTER TABLE jobs ADD COLUMN trace_context TEXT;
`,
  },
  {
    version: 8,
    name: 'clients: their keys (hashed), signing secrets and settings',
    sql: `
CREATE TABLE clients (
  id                      TEXT    PRIMARY KEY,
  name                    TEXT    NOT NULL,
  -- hex SHA-256 of the API key; NULL once deleted
  key_hash                TEXT,
  -- sealed by src/data-encryption.ts
  signing_secret          TEXT    NOT NULL,
  previous_signing_secret TEXT,
  previous_valid_until    INTEGER,
  -- settings; NULL means the relay-wide one
  allowed_callback_hosts  TEXT,
  rate_limit              INTEGER,
  llm_rpm                 INTEGER,
  daily_token_budget      INTEGER,
  model                   TEXT,
  system_prompt           TEXT,
  disabled                INTEGER NOT NULL DEFAULT 0,
  created_at              INTEGER NOT NULL,
  updated_at              INTEGER NOT NULL,
  deleted_at              INTEGER
) WITHOUT ROWID;
CREATE UNIQUE INDEX clients_key_hash ON clients (key_hash) WHERE key_hash IS NOT NULL;
CREATE UNIQUE INDEX clients_live_name ON clients (name) WHERE deleted_at IS NULL;
`,
  },
  {
    version: 9,
    name: 'jobs.callback_headers: sent with every callback attempt, sealed',
    sql: `
ALTER TABLE jobs ADD COLUMN callback_headers TEXT;
ALTER TABLE jobs ADD COLUMN callback_header_names TEXT;
`,
  },
  {
    version: 10,
    name: 'callback origins: the breaker of each, and the origin of each job',
    sql: `
CREATE TABLE callback_origins (
  origin             TEXT    PRIMARY KEY,
  state              TEXT    NOT NULL CHECK (state IN ('closed', 'open')),
  -- failed attempts in a row, across jobs, since the last success
  failures           INTEGER NOT NULL,
  last_error_code    TEXT,
  last_error_message TEXT,
  last_failure_at    INTEGER,
  opened_at          INTEGER,
  -- while open: when the next probe may go
  probe_at           INTEGER,
  updated_at         INTEGER NOT NULL
) WITHOUT ROWID;
-- scheme://host:port of callback_url; NULL for jobs accepted before this migration
ALTER TABLE jobs ADD COLUMN callback_origin TEXT;
CREATE INDEX jobs_origin_delivering ON jobs (callback_origin) WHERE status = 'delivering';
`,
  },
  {
    version: 11,
    name: 'usage_daily: tokens and cost per day, owner and model',
    sql: `
CREATE TABLE usage_daily (
  day               TEXT    NOT NULL, -- UTC, YYYY-MM-DD
  owner             TEXT    NOT NULL,
  model             TEXT    NOT NULL,
  jobs              INTEGER NOT NULL,
  prompt_tokens     INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  total_tokens      INTEGER NOT NULL,
  -- in the provider's credits; NULL while it never reported one
  cost              REAL,
  PRIMARY KEY (day, owner, model)
) WITHOUT ROWID;
CREATE INDEX usage_daily_owner ON usage_daily (owner, day);
`,
  },
  {
    version: 12,
    name: 'tools over webhooks: awaiting_tool_results, the rounds of tool calls and results',
    // The CHECK widened by rebuilding the table, as in migrations 2 and 5; the indexes of
    // migrations 6 and 10 made again.
    sql: `
CREATE TABLE jobs_checked (
  seq                 INTEGER PRIMARY KEY AUTOINCREMENT, -- acceptance order
  id                  TEXT    NOT NULL UNIQUE,
  owner               TEXT    NOT NULL,
  conversation_id     TEXT    NOT NULL,
  sequence            INTEGER NOT NULL,
  status              TEXT    NOT NULL
    CHECK (status IN ('queued', 'processing', 'awaiting_tool_results', 'delivering', 'delivered', 'dead', 'cancelled')),
  -- 1 while an earlier message of the same conversation is still unanswered
  waiting             INTEGER NOT NULL,
  -- when the job may be claimed: its due time, or while leased, when the lease runs out
  available_at        INTEGER NOT NULL,
  lease_owner         TEXT,
  message             TEXT    NOT NULL,
  callback_url        TEXT    NOT NULL,
  model               TEXT    NOT NULL,
  system_prompt       TEXT    NOT NULL,
  metadata            TEXT,
  response            TEXT,
  error_code          TEXT,
  error_message       TEXT,
  usage               TEXT,
  llm_attempts        INTEGER NOT NULL DEFAULT 0,
  delivery_attempts   INTEGER NOT NULL DEFAULT 0,
  delivery_failures   INTEGER NOT NULL DEFAULT 0,
  idempotency_key     TEXT,
  request_hash        TEXT    NOT NULL,
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL,
  completed_at        INTEGER,
  llm_parameters      TEXT,
  output              TEXT,
  -- an answer that missed its response_format, and why: shown to the model on the one retry
  rejected_answer     TEXT,
  prompt_tokens       INTEGER,
  -- the W3C trace context of the request that made the job (migration 7)
  trace_context       TEXT,
  -- sent with every callback attempt, sealed (migration 9)
  callback_headers    TEXT,
  callback_header_names TEXT,
  -- scheme://host:port of callback_url (migration 10)
  callback_origin     TEXT,
  -- JSON: each round of the model's tool calls and the client's results
  tool_rounds         TEXT,
  -- while awaiting_tool_results: when TOOL_RESULTS_TIMEOUT runs out
  tool_results_due_at INTEGER,
  -- 1 while the job.tool_calls event of the last round is still to be delivered
  tool_calls_pending  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO jobs_checked (seq, id, owner, conversation_id, sequence, status, waiting, available_at, lease_owner, message,
  callback_url, model, system_prompt, metadata, response, error_code, error_message, usage, llm_attempts,
  delivery_attempts, delivery_failures, idempotency_key, request_hash, created_at, updated_at, completed_at,
  llm_parameters, output, rejected_answer, prompt_tokens, trace_context, callback_headers, callback_header_names,
  callback_origin)
  SELECT seq, id, owner, conversation_id, sequence, status, waiting, available_at, lease_owner, message,
  callback_url, model, system_prompt, metadata, response, error_code, error_message, usage, llm_attempts,
  delivery_attempts, delivery_failures, idempotency_key, request_hash, created_at, updated_at, completed_at,
  llm_parameters, output, rejected_answer, prompt_tokens, trace_context, callback_headers, callback_header_names,
  callback_origin FROM jobs;
-- seq keeps rising past every job ever accepted, purged ones included
DELETE FROM sqlite_sequence WHERE name = 'jobs_checked';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_checked', seq FROM sqlite_sequence WHERE name = 'jobs';
DROP TABLE jobs;
ALTER TABLE jobs_checked RENAME TO jobs;
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_llm_due ON jobs (available_at, seq) WHERE status IN ('queued', 'processing') AND waiting = 0;
CREATE INDEX jobs_delivery_due ON jobs (available_at) WHERE status = 'delivering';
CREATE INDEX jobs_conversation_waiting ON jobs (owner, conversation_id, seq) WHERE waiting = 1;
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('delivered', 'dead', 'cancelled');
CREATE INDEX jobs_owner_status_created ON jobs (owner, status, created_at);
CREATE INDEX jobs_owner_conversation_created ON jobs (owner, conversation_id, created_at);
CREATE INDEX jobs_origin_delivering ON jobs (callback_origin) WHERE status = 'delivering';
CREATE INDEX jobs_tool_calls_due ON jobs (available_at)
  WHERE status = 'awaiting_tool_results' AND tool_calls_pending = 1;
CREATE INDEX jobs_tool_results_due ON jobs (tool_results_due_at) WHERE status = 'awaiting_tool_results';
-- on an answer reached through tools: the rounds of calls and results before it
ALTER TABLE messages ADD COLUMN tool_rounds TEXT;
`,
  },
]

/** Applies the migrations this database lacks, each in one IMMEDIATE transaction. */
export function migrateSqlite(db: Database, now: number): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  )
  const applied = new Set(
    db
      .query<{ version: number }, []>('SELECT version FROM schema_migrations')
      .all()
      .map((r) => r.version),
  )
  for (const m of sqliteMigrations) {
    if (applied.has(m.version)) continue
    db.transaction(() => {
      db.exec(m.sql)
      db.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        now,
      )
    }).immediate()
  }
}

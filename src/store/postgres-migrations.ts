// Every migration ever released stays here, append-only, in order.
import type { SQL } from 'bun'

/**
 * Numbered in order and applied once each, all under one advisory lock so that instances
 * starting together migrate once. Kept in code (not .sql files) so the compiled binary
 * carries them. The tables mirror the SQLite ones; times are epoch milliseconds. A migration
 * is never edited once released: a new status needs a new migration that widens the CHECK
 * on `jobs.status` (test/store-migrations.test.ts compares it with JOB_STATUSES).
 */
export const postgresMigrations: readonly { version: number; name: string; sql: string }[] = [
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
  created_at    BIGINT  NOT NULL,
  PRIMARY KEY (owner, id)
);

CREATE TABLE jobs (
  seq               BIGSERIAL PRIMARY KEY, -- acceptance order
  id                TEXT    NOT NULL UNIQUE,
  owner             TEXT    NOT NULL,
  conversation_id   TEXT    NOT NULL,
  sequence          INTEGER NOT NULL,
  status            TEXT    NOT NULL,
  -- true while an earlier message of the same conversation is still unanswered
  waiting           BOOLEAN NOT NULL,
  -- when the job may be claimed: its due time, or while leased, when the lease runs out
  available_at      BIGINT  NOT NULL,
  lease_owner       TEXT,
  -- texts from clients and the LLM are UTF-8 BYTEA: PostgreSQL TEXT cannot hold U+0000
  message           BYTEA   NOT NULL,
  callback_url      BYTEA   NOT NULL,
  model             BYTEA   NOT NULL,
  system_prompt     BYTEA   NOT NULL,
  -- JSON as text, like SQLite, so both adapters share the row mapping
  metadata          TEXT,
  response          BYTEA,
  error_code        TEXT,
  error_message     TEXT,
  usage             TEXT,
  llm_attempts      INTEGER NOT NULL DEFAULT 0,
  delivery_attempts INTEGER NOT NULL DEFAULT 0,
  delivery_failures INTEGER NOT NULL DEFAULT 0,
  idempotency_key   TEXT,
  request_hash      TEXT    NOT NULL,
  created_at        BIGINT  NOT NULL,
  updated_at        BIGINT  NOT NULL,
  completed_at      BIGINT
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_llm_due ON jobs (available_at, seq) WHERE status IN ('queued', 'processing') AND NOT waiting;
CREATE INDEX jobs_delivery_due ON jobs (available_at) WHERE status = 'delivering';
CREATE INDEX jobs_conversation_waiting ON jobs (owner, conversation_id, seq) WHERE waiting;
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('delivered', 'dead');

CREATE TABLE messages (
  id              BIGSERIAL PRIMARY KEY,
  owner           TEXT    NOT NULL,
  conversation_id TEXT    NOT NULL,
  role            TEXT    NOT NULL,
  content         BYTEA   NOT NULL,
  job_id          TEXT    NOT NULL,
  created_at      BIGINT  NOT NULL,
  UNIQUE (job_id, role)
);
CREATE INDEX messages_conversation ON messages (owner, conversation_id, id);
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE delivery_attempts (
  job_id        TEXT    NOT NULL,
  attempt       INTEGER NOT NULL,
  at            BIGINT  NOT NULL,
  status_code   INTEGER,
  error_code    TEXT,
  error_message TEXT,
  duration_ms   INTEGER NOT NULL,
  PRIMARY KEY (job_id, attempt)
);
`,
  },
  // 2 made the fleet-wide limits' tables; src/limits/postgres.ts owns and creates them now.
  {
    version: 3,
    name: 'jobs.status limited to the statuses of the transition table',
    sql: `
ALTER TABLE jobs ADD CONSTRAINT jobs_status_known
  CHECK (status IN ('queued', 'processing', 'delivering', 'delivered', 'dead'));
`,
  },
  {
    version: 4,
    name: 'instances: a heartbeat per running worker, so the leases of a dead one are released early',
    sql: `
CREATE TABLE instances (
  worker_id    TEXT   PRIMARY KEY,
  -- since when it has beaten without a gap: only an instance alive that long judges others
  alive_since  BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL
);
`,
  },
  {
    version: 5,
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
    version: 6,
    name: 'jobs.status may be cancelled; cancelled jobs are purged with the finished ones',
    sql: `
ALTER TABLE jobs DROP CONSTRAINT jobs_status_known;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_known
  CHECK (status IN ('queued', 'processing', 'delivering', 'delivered', 'dead', 'cancelled'));
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('delivered', 'dead', 'cancelled');
`,
  },
  {
    version: 7,
    name: 'listing: indexes for GET /jobs and GET /conversations',
    // GET /jobs reads ranges of these (src/store/job-listing.ts); two only, as each costs every
    // accept and every update of a job an index entry.
    sql: `
CREATE INDEX jobs_owner_status_created ON jobs (owner, status, created_at, seq);
CREATE INDEX jobs_owner_conversation_created ON jobs (owner, conversation_id, created_at, seq);
-- When the conversation's latest message was accepted: openConversationTurn sets it.
ALTER TABLE conversations ADD COLUMN last_message_at BIGINT NOT NULL DEFAULT 0;
UPDATE conversations c SET last_message_at = COALESCE(
  (SELECT MAX(j.created_at) FROM jobs j WHERE j.owner = c.owner AND j.conversation_id = c.id), c.created_at);
CREATE INDEX conversations_owner_active ON conversations (owner, last_message_at, id);
`,
  },
  {
    version: 8,
    name: 'trace context',
    sql: `
-- the W3C trace context of the request that made the job (traceparent, a newline, tracestate):
-- the parent of each of its LLM and callback attempts' spans; NULL without OTEL_EXPORTER_OTLP_ENDPOINT
ALTER TABLE jobs ADD COLUMN trace_context TEXT;
`,
  },
  {
    version: 9,
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
  previous_valid_until    BIGINT,
  -- settings; NULL means the relay-wide one (texts with U+0000 are refused by the API)
  allowed_callback_hosts  TEXT,
  rate_limit              INTEGER,
  llm_rpm                 INTEGER,
  daily_token_budget      BIGINT,
  model                   TEXT,
  system_prompt           TEXT,
  disabled                BOOLEAN NOT NULL DEFAULT false,
  created_at              BIGINT  NOT NULL,
  updated_at              BIGINT  NOT NULL,
  deleted_at              BIGINT
);
CREATE UNIQUE INDEX clients_key_hash ON clients (key_hash) WHERE key_hash IS NOT NULL;
CREATE UNIQUE INDEX clients_live_name ON clients (name) WHERE deleted_at IS NULL;
`,
  },
  {
    version: 10,
    name: 'jobs.callback_headers: sent with every callback attempt, sealed',
    sql: `
ALTER TABLE jobs ADD COLUMN callback_headers TEXT;
ALTER TABLE jobs ADD COLUMN callback_header_names TEXT;
`,
  },
  {
    version: 11,
    name: 'callback origins: the breaker of each, and the origin of each job',
    sql: `
CREATE TABLE callback_origins (
  origin             TEXT    PRIMARY KEY,
  state              TEXT    NOT NULL CHECK (state IN ('closed', 'open')),
  -- failed attempts in a row, across jobs, since the last success
  failures           INTEGER NOT NULL,
  last_error_code    TEXT,
  last_error_message TEXT,
  last_failure_at    BIGINT,
  opened_at          BIGINT,
  -- while open: when the next probe may go
  probe_at           BIGINT,
  updated_at         BIGINT NOT NULL
);
-- scheme://host:port of callback_url; NULL for jobs accepted before this migration
ALTER TABLE jobs ADD COLUMN callback_origin TEXT;
CREATE INDEX jobs_origin_delivering ON jobs (callback_origin) WHERE status = 'delivering';
`,
  },
  {
    version: 12,
    name: 'usage_daily: tokens and cost per day, owner and model',
    sql: `
CREATE TABLE usage_daily (
  day               TEXT    NOT NULL, -- UTC, YYYY-MM-DD
  owner             TEXT    NOT NULL,
  model             TEXT    NOT NULL,
  jobs              BIGINT NOT NULL,
  prompt_tokens     BIGINT  NOT NULL,
  completion_tokens BIGINT NOT NULL,
  total_tokens      BIGINT NOT NULL,
  -- in the provider's credits; NULL while it never reported one
  cost              DOUBLE PRECISION,
  PRIMARY KEY (day, owner, model)
);
CREATE INDEX usage_daily_owner ON usage_daily (owner, day);
`,
  },
  {
    version: 13,
    name: 'tools over webhooks: awaiting_tool_results, the rounds of tool calls and results',
    sql: `
ALTER TABLE jobs DROP CONSTRAINT jobs_status_known;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_known CHECK (status IN
  ('queued', 'processing', 'awaiting_tool_results', 'delivering', 'delivered', 'dead', 'cancelled'));
-- JSON as text (jsonb refuses U+0000, which the model and clients may send): each round of tool calls and results
ALTER TABLE jobs ADD COLUMN tool_rounds TEXT;
-- while awaiting_tool_results: when TOOL_RESULTS_TIMEOUT runs out
ALTER TABLE jobs ADD COLUMN tool_results_due_at BIGINT;
-- true while the job.tool_calls event of the last round is still to be delivered
ALTER TABLE jobs ADD COLUMN tool_calls_pending BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX jobs_tool_calls_due ON jobs (available_at) WHERE status = 'awaiting_tool_results' AND tool_calls_pending;
CREATE INDEX jobs_tool_results_due ON jobs (tool_results_due_at) WHERE status = 'awaiting_tool_results';
-- on an answer reached through tools: the rounds of calls and results before it
ALTER TABLE messages ADD COLUMN tool_rounds TEXT;
`,
  },
]

/** Applies the missing migrations in one transaction, under a lock every instance takes. */
export async function migratePostgres(sql: SQL, schema: string | undefined, now: number): Promise<void> {
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
      await tx`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${m.version}, ${m.name}, ${now})`
    }
  })
}

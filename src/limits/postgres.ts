import { SQL } from 'bun'
import type { Clock } from '../clock.ts'
import type { Logger } from '../log.ts'
import { type CallBudget, LocalCallBudget, WINDOW_MS } from './call-budget.ts'
import { FailOpen, FailOpenCallBudget, FailOpenRateLimitStore } from './fail-open.ts'
import type { Limits } from './limits.ts'
import { OutageLog } from './outage.ts'
import {
  MemoryRateLimitStore,
  type RateLimitStore,
  type RateLimitWindow,
  windowOf,
} from './rate-limit-store.ts'

// One advisory lock serialises every instance's budget decisions; they are rare (a few per second).
const BUDGET_LOCK = 0x6c6c6d72 // "llmr"
// Another one for creating the tables, so instances starting together do not race on the catalog.
const TABLES_LOCK = 0x6c6c6d74

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

// The tables are this room's, not the store's: created here, idempotently, at every start.
// (Databases made before carry the same tables from the store's old migration 2.)
const TABLES = `
CREATE TABLE IF NOT EXISTS llm_call_slots (
  id       BIGSERIAL PRIMARY KEY,
  taken_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_call_slots_taken ON llm_call_slots (taken_at);

CREATE TABLE IF NOT EXISTS llm_budget_pause (
  name  TEXT PRIMARY KEY,
  until BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS rate_limit_windows (
  key      TEXT PRIMARY KEY,
  count    INTEGER NOT NULL,
  reset_at BIGINT  NOT NULL
);`

/**
 * LLM_MAX_RPM and the API rate limit for the whole fleet in its PostgreSQL database, when there
 * is no Redis: a small pool of their own (the store knows nothing of them), tables created if
 * missing, failing open to this instance's own limits while the database is out of reach.
 */
export async function openPostgresLimits(
  url: string,
  o: { schema: string | undefined; perMinute: number; clock: Clock; logger: Logger },
): Promise<Limits> {
  const { schema } = o
  if (schema !== undefined && !SCHEMA_NAME.test(schema))
    throw new Error(`invalid PostgreSQL schema name "${schema}": use a-z, 0-9 and _`)
  const sql = new SQL(url, {
    max: 2,
    // A fleet-wide count that cannot connect soon is not worth waiting for: the local one decides.
    connectionTimeout: 2,
    ...(schema === undefined ? {} : { connection: { search_path: schema } }),
  })
  try {
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${TABLES_LOCK})`
      // The name was checked against SCHEMA_NAME, so it needs no quoting.
      if (schema !== undefined) await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
      await tx.unsafe(TABLES)
    })
  } catch (error) {
    await sql.close()
    throw error
  }
  const failOpen = new FailOpen({
    clock: o.clock,
    outage: new OutageLog('postgres', o.logger),
    reachable: () => true,
  })
  return {
    budget: new FailOpenCallBudget(
      new PostgresCallBudget(sql, o.perMinute),
      new LocalCallBudget(o.perMinute),
      failOpen,
    ),
    rateLimit: new FailOpenRateLimitStore(
      new PostgresRateLimitStore(sql, o.clock),
      new MemoryRateLimitStore(o.clock),
      failOpen,
    ),
    // The database's own check (the store's ping) speaks for it.
    dependencies: [],
    close: () => sql.close(),
  }
}

/** LLM_MAX_RPM for the whole fleet when there is no Redis: a sliding log in a table. */
export class PostgresCallBudget implements CallBudget {
  constructor(
    private readonly sql: SQL,
    private readonly perMinute: number,
  ) {}

  private async pausedUntil(tx: SQL): Promise<number> {
    const [row] = await tx<{ until: string }[]>`SELECT until FROM llm_budget_pause WHERE name = 'llm'`
    return row ? Number(row.until) : 0
  }

  private pauseSeen = { until: 0, checkedAt: Number.NEGATIVE_INFINITY }

  async take(want: number, now: number): Promise<number> {
    // Without a per-minute limit only a quota pause can say no: read it at most once a second
    // rather than taking the fleet-wide lock on every claim.
    if (this.perMinute <= 0) {
      if (now - this.pauseSeen.checkedAt >= 1000)
        this.pauseSeen = { until: await this.pausedUntil(this.sql), checkedAt: now }
      return now < this.pauseSeen.until ? 0 : want
    }
    return this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${BUDGET_LOCK})`
      if (now < (await this.pausedUntil(tx))) return 0
      await tx`DELETE FROM llm_call_slots WHERE taken_at <= ${now - WINDOW_MS}`
      const [row] = await tx<{ n: string }[]>`SELECT COUNT(*) AS n FROM llm_call_slots`
      const granted = Math.max(0, Math.min(want, this.perMinute - Number(row?.n ?? 0)))
      if (granted > 0)
        await tx`INSERT INTO llm_call_slots (taken_at) SELECT ${now}::bigint FROM generate_series(1, ${granted})`
      return granted
    })
  }

  async giveBack(count: number): Promise<void> {
    if (this.perMinute <= 0 || count <= 0) return
    await this.sql`
      DELETE FROM llm_call_slots WHERE id IN (SELECT id FROM llm_call_slots ORDER BY id DESC LIMIT ${count})`
  }

  async nextSlotAt(now: number): Promise<number | undefined> {
    const paused = await this.pausedUntil(this.sql)
    if (now < paused) return paused
    if (this.perMinute <= 0) return undefined
    const rows = await this.sql<{ taken_at: string }[]>`
      SELECT taken_at FROM llm_call_slots WHERE taken_at > ${now - WINDOW_MS} ORDER BY taken_at`
    if (rows.length < this.perMinute) return undefined
    return Number(rows[0]?.taken_at ?? now) + WINDOW_MS
  }

  async pauseUntil(at: number): Promise<void> {
    this.pauseSeen = { until: Math.max(this.pauseSeen.until, at), checkedAt: this.pauseSeen.checkedAt }
    await this.sql`
      INSERT INTO llm_budget_pause (name, until) VALUES ('llm', ${at})
      ON CONFLICT (name) DO UPDATE SET until = GREATEST(llm_budget_pause.until, EXCLUDED.until)`
  }
}

/** The API's rate limit for the whole fleet when there is no Redis: fixed windows in a table. */
export class PostgresRateLimitStore implements RateLimitStore {
  private duration = 60_000

  constructor(
    private readonly sql: SQL,
    private readonly clock: Clock,
  ) {}

  init(options: { duration?: unknown }): void {
    this.duration = windowOf(options, this.duration)
  }

  async increment(key: string): Promise<RateLimitWindow> {
    const now = this.clock.now()
    const [row] = await this.sql<{ count: number; reset_at: string }[]>`
      INSERT INTO rate_limit_windows (key, count, reset_at) VALUES (${key}, 1, ${now + this.duration})
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN rate_limit_windows.reset_at <= ${now} THEN 1 ELSE rate_limit_windows.count + 1 END,
        reset_at = CASE WHEN rate_limit_windows.reset_at <= ${now} THEN ${now + this.duration}
                        ELSE rate_limit_windows.reset_at END
      RETURNING count, reset_at`
    const resetAt = Number(row?.reset_at ?? now + this.duration)
    return { count: row?.count ?? 1, nextReset: new Date(resetAt), start: resetAt - this.duration }
  }

  async decrement(key: string): Promise<void> {
    await this.sql`UPDATE rate_limit_windows SET count = GREATEST(0, count - 1) WHERE key = ${key}`
  }

  async reset(key?: string): Promise<void> {
    if (key !== undefined) await this.sql`DELETE FROM rate_limit_windows WHERE key = ${key}`
  }

  kill(): void {}
}

import type { SQL } from 'bun'
import type { Context as RateLimitContext } from 'elysia-rate-limit'
import { type CallBudget, WINDOW_MS } from '../limits/call-budget.ts'

// One advisory lock serialises every instance's budget decisions; they are rare (a few per second).
const BUDGET_LOCK = 0x6c6c6d72 // "llmr"

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
export class PostgresRateLimitContext implements RateLimitContext {
  private duration = 60_000

  constructor(private readonly sql: SQL) {}

  init(options: { duration: unknown }): void {
    if (typeof options.duration === 'number') this.duration = options.duration
  }

  async increment(key: string): Promise<{ count: number; nextReset: Date; start: number }> {
    const now = Date.now()
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

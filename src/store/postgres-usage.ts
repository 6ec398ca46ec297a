import type { SQL } from 'bun'
import {
  GROUP_COLUMN,
  type UsageLine,
  type UsageQuery,
  type UsageRow,
  type UsageStore,
  usageFromRow,
} from './usage-store.ts'

/** Usage reports on the PostgresStore's pool (the counting is part of recordAnswer). */
export class PostgresUsageStore implements UsageStore {
  constructor(private readonly sql: SQL) {}

  async tokensOn(owner: string, day: string): Promise<number> {
    const [row] = await this.sql<{ tokens: string | null }[]>`
      SELECT SUM(total_tokens) AS tokens FROM usage_daily WHERE day = ${day} AND owner = ${owner}`
    return Number(row?.tokens ?? 0)
  }

  async report(q: UsageQuery): Promise<UsageLine[]> {
    // The column comes from a closed set (GROUP_COLUMN), never from the request.
    const column = GROUP_COLUMN[q.groupBy]
    const rows = await this.sql.unsafe<UsageRow[]>(
      `SELECT ${column} AS key, SUM(jobs) AS jobs, SUM(prompt_tokens) AS prompt_tokens,
         SUM(completion_tokens) AS completion_tokens, SUM(total_tokens) AS total_tokens, SUM(cost) AS cost
       FROM usage_daily WHERE day >= $1 AND day <= $2 AND ($3::text IS NULL OR owner = $3)
       GROUP BY ${column} ORDER BY ${column}`,
      [q.from, q.to, q.owner ?? null],
    )
    return rows.map(usageFromRow)
  }
}

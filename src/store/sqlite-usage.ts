import type { GroupCommit } from './group-commit.ts'
import type { StoreDatabase } from './sqlite-database.ts'
import {
  GROUP_COLUMN,
  type UsageLine,
  type UsageQuery,
  type UsageRow,
  type UsageStore,
  usageFromRow,
} from './usage-store.ts'

/** Usage reports on the SqliteStore's handle (the counting is part of recordAnswer). */
export class SqliteUsageStore implements UsageStore {
  constructor(
    private readonly db: StoreDatabase,
    private readonly writes: GroupCommit,
  ) {}

  async tokensOn(owner: string, day: string): Promise<number> {
    await this.writes.flushed()
    const row = this.db
      .query<{ tokens: number | null }, [string, string]>(
        'SELECT SUM(total_tokens) AS tokens FROM usage_daily WHERE day = ? AND owner = ?',
      )
      .get(day, owner)
    return row?.tokens ?? 0
  }

  async report(q: UsageQuery): Promise<UsageLine[]> {
    await this.writes.flushed()
    const column = GROUP_COLUMN[q.groupBy]
    return this.db
      .query<UsageRow, (string | null)[]>(
        `SELECT ${column} AS key, SUM(jobs) AS jobs, SUM(prompt_tokens) AS prompt_tokens,
           SUM(completion_tokens) AS completion_tokens, SUM(total_tokens) AS total_tokens, SUM(cost) AS cost
         FROM usage_daily WHERE day >= ?1 AND day <= ?2 AND (?3 IS NULL OR owner = ?3)
         GROUP BY ${column} ORDER BY ${column}`,
      )
      .all(q.from, q.to, q.owner ?? null)
      .map(usageFromRow)
  }
}

import type { Usage } from '../job.ts'

/**
 * What answered LLM calls used, per UTC day, owner and model: counted in the transaction that
 * stores each answer, and kept when the jobs are purged (RETENTION), so budgets and reports
 * read a small table rather than the jobs. Calls that produced no kept answer are not counted.
 */

export type UsageGroup = 'client' | 'model' | 'day'

export interface UsageTotals {
  jobs: number
  promptTokens: number
  completionTokens: number
  totalTokens: number
  /** In the provider's credits; null when it never reported a cost. */
  cost: number | null
}

export interface UsageLine extends UsageTotals {
  /** The owner, the model or the day (YYYY-MM-DD), by `groupBy`. */
  key: string
}

export interface UsageQuery {
  /** First and last UTC day, YYYY-MM-DD, both included. */
  from: string
  to: string
  groupBy: UsageGroup
  /** Only this owner's; undefined for every owner's. */
  owner: string | undefined
}

export interface UsageStore {
  /** Tokens the owner's answers used on that UTC day. */
  tokensOn(owner: string, day: string): Promise<number>
  report(query: UsageQuery): Promise<UsageLine[]>
}

/** The UTC day of a time, as stored. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** The column each grouping reads. */
export const GROUP_COLUMN: Record<UsageGroup, string> = { client: 'owner', model: 'model', day: 'day' }

export interface UsageRow {
  key: string
  jobs: number | string
  prompt_tokens: number | string
  completion_tokens: number | string
  total_tokens: number | string
  cost: number | string | null
}

export function usageFromRow(row: UsageRow): UsageLine {
  return {
    key: row.key,
    jobs: Number(row.jobs),
    promptTokens: Number(row.prompt_tokens),
    completionTokens: Number(row.completion_tokens),
    totalTokens: Number(row.total_tokens),
    cost: row.cost === null ? null : Number(row.cost),
  }
}

/** The usageCounted statement's values: day, owner, model, the three token counts, the cost. */
export function usageValues(
  owner: string,
  answer: { model: string; usage: Usage | null },
  now: number,
): [string, string, string, number, number, number, number | null] {
  const u = answer.usage
  return [
    utcDay(now),
    owner,
    answer.model.replaceAll('\u0000', '\uFFFD'),
    u?.prompt_tokens ?? 0,
    u?.completion_tokens ?? 0,
    u?.total_tokens ?? 0,
    u?.cost ?? null,
  ]
}

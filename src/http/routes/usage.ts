import { Elysia } from 'elysia'
import { type UsageGroup, type UsageStore, utcDay } from '../../store/usage-store.ts'
import { invalidInput, problems } from '../problem.ts'
import { UsageQuery, UsageReport } from '../usage-schemas.ts'

export interface UsageDeps {
  usage: UsageStore
  now: () => number
  /** Whose usage a request may read: its owner's, or undefined for everyone's. */
  visibleOwner: (request: Request) => string | undefined
  /** How an owner is shown (a stored client's name), and its client id. */
  describeOwner: (owner: string) => Promise<{ name: string; clientId: string | null }>
}

const DAY_MS = 86_400_000
const MAX_DAYS = 366

export function usageRoutes(deps: UsageDeps) {
  return new Elysia({ name: 'usage' }).get(
    '/usage',
    async ({ query, request }) => {
      const to = query.to ?? utcDay(deps.now())
      const from = query.from ?? utcDay(Date.parse(to) - 30 * DAY_MS)
      const span = (Date.parse(to) - Date.parse(from)) / DAY_MS
      if (!Number.isFinite(span) || span < 0 || span >= MAX_DAYS)
        throw invalidInput('query', [
          { field: '/from', message: `must be a day on or before to, at most ${MAX_DAYS} days before it` },
        ])
      const groupBy: UsageGroup = query.group_by ?? 'client'
      const lines = await deps.usage.report({ from, to, groupBy, owner: deps.visibleOwner(request) })
      const usage = await Promise.all(
        lines.map(async (l) => {
          const totals = {
            jobs: l.jobs,
            prompt_tokens: l.promptTokens,
            completion_tokens: l.completionTokens,
            total_tokens: l.totalTokens,
            cost: l.cost,
          }
          if (groupBy !== 'client') return { key: l.key, ...totals }
          const who = await deps.describeOwner(l.key)
          return { key: who.name, client_id: who.clientId, ...totals }
        }),
      )
      return { from, to, group_by: groupBy, usage }
    },
    {
      query: UsageQuery,
      response: { 200: UsageReport, ...problems(422) },
      detail: {
        tags: ['Operations'],
        summary: 'Tokens and cost by client, model or day',
        description:
          'Counted as each answer is stored (kept after the jobs are purged), by UTC day. A client key sees its own usage; an admin key, or a relay without keys, every client’s.',
      },
    },
  )
}

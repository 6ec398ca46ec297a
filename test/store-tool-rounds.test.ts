import { describe, expect, test } from 'bun:test'
import type { ToolRound } from '../src/answer/tool-rounds.ts'
import { closedAfterEach, LEASE, newJob, storeAdapters, T0 } from './support/stores.ts'

/*
 * A job's tool rounds on both stores: kept byte for byte (U+0000 included, which PostgreSQL's
 * jsonb would refuse), an event attempt counted only for its own round, the results taken only
 * when they answer every call once, the rounds joining history with the answer, and the timeout
 * sweep reading only the jobs due.
 */

const adapters = storeAdapters('PostgresStore keeps tool rounds')
const opened = closedAfterEach()

const TIMEOUT = 60_000
const NUL_ARGS = '{"note":"a\\u0000b","emoji":"🙂"}'

function round(calls: string[], at: number, llmAttempts: number): ToolRound {
  return {
    content: 'checking \u0000 now',
    calls: calls.map((id) => ({ id, name: 'get_order', arguments: NUL_ARGS })),
    results: null,
    calledAt: at,
    answeredAt: null,
    llmAttempts,
  }
}

const delivered = (at: number) => ({ at, statusCode: 200, error: null, durationMs: 1 })

describe.each(adapters)('$name', (adapter) => {
  async function awaiting(rounds: ToolRound[], now: number) {
    const store = await adapter.fresh().open()
    opened.push(store)
    const { job } = await store.acceptJob(newJob())
    const [claimed] = await store.claimJobs({ workerId: 'w1', now, leaseMs: LEASE, limit: 1, llmLimit: 1 })
    expect(claimed?.id).toBe(job.id)
    const recorded = await store.recordToolCalls(
      job.id,
      'w1',
      {
        rounds,
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
        resultsDueAt: now + TIMEOUT,
      },
      now,
    )
    expect(recorded?.status).toBe('awaiting_tool_results')
    return { store, job }
  }

  test('rounds and results are kept byte for byte, and join history with the answer', async () => {
    const { store, job } = await awaiting([round(['c1', 'c2'], T0, 1)], T0)
    const results = [
      { tool_call_id: 'c2', content: 'two \u0000 🙂' },
      { tool_call_id: 'c1', content: 'one' },
    ]
    expect((await store.submitToolResults(job.id, job.owner, results.slice(0, 1), T0 + 1)).kind).toBe(
      'mismatch',
    )
    const queued = await store.submitToolResults(job.id, job.owner, results, T0 + 2)
    expect(queued.kind).toBe('queued')
    const read = await store.getJob(job.id, job.owner, T0 + 2)
    expect(read?.status).toBe('queued')
    // The calls' order, whatever the order the results came in.
    expect(read?.toolRounds[0]?.results).toEqual([
      { tool_call_id: 'c1', content: 'one' },
      { tool_call_id: 'c2', content: 'two \u0000 🙂' },
    ])
    expect(read?.toolRounds[0]?.calls[0]?.arguments).toBe(NUL_ARGS)
    expect(read?.toolRounds[0]?.content).toBe('checking \u0000 now')
    expect(read?.toolResultsDueAt).toBeNull()
    expect((await store.submitToolResults(job.id, job.owner, results, T0 + 3)).kind).toBe('not_awaiting')

    await store.claimJobs({ workerId: 'w1', now: T0 + 3, leaseMs: LEASE, limit: 1, llmLimit: 1 })
    await store.recordAnswer(job.id, 'w1', { response: 'done', model: 'm', usage: null }, T0 + 4)
    const history = await store.readHistory(job.owner, job.conversationId, 10)
    expect(history.map((m) => m.role)).toEqual(['user', 'assistant'])
    expect(history[1]?.toolRounds).toEqual(read?.toolRounds)
    expect((await store.readConversation(job.owner, job.conversationId))?.[1]?.toolRounds).toEqual(
      read?.toolRounds,
    )
  })

  test('an event attempt counts only for its own round; the lease holder of a later one is refused it', async () => {
    const { store, job } = await awaiting([round(['c1'], T0, 1)], T0)
    expect(await store.recordToolCallsAttempt(job.id, 'w1', 2, delivered(T0), { status: 'delivered' })).toBe(
      false,
    )
    expect(await store.recordToolCallsAttempt(job.id, 'w1', 1, delivered(T0), { status: 'delivered' })).toBe(
      true,
    )
    expect(await store.listDeliveryAttempts(job.id)).toHaveLength(1)
    // Delivered: never claimed for it again.
    const later = await store.claimJobs({
      workerId: 'w2',
      now: T0 + 2 * LEASE,
      leaseMs: LEASE,
      limit: 5,
      llmLimit: 5,
    })
    expect(later).toEqual([])
    expect(await store.nextWakeAt(T0)).toBe(T0 + TIMEOUT)
  })

  test('the timeout fails only the jobs due, and lets the conversation go on', async () => {
    const { store, job } = await awaiting([round(['c1'], T0, 1)], T0)
    const next = await store.acceptJob(newJob({ conversationId: job.conversationId }))
    const error = { code: 'tool_results_timeout', message: 'late' } as const
    expect(await store.expireToolResults(T0 + TIMEOUT - 1, error)).toBe(0)
    expect(await store.countOpenJobs()).toMatchObject({ awaiting_tool_results: 1, queued: 1 })
    expect(await store.expireToolResults(T0 + TIMEOUT, error)).toBe(1)
    expect(await store.expireToolResults(T0 + TIMEOUT, error)).toBe(0)
    const failed = await store.getJob(job.id, job.owner, T0 + TIMEOUT)
    expect(failed).toMatchObject({ status: 'delivering', error, response: null })
    const claimed = await store.claimJobs({
      workerId: 'w2',
      now: T0 + TIMEOUT,
      leaseMs: LEASE,
      limit: 5,
      llmLimit: 5,
    })
    expect(claimed.map((j) => [j.id, j.status]).sort()).toEqual(
      [
        [job.id, 'delivering'],
        [next.job.id, 'processing'],
      ].sort(),
    )
    expect(await store.readHistory(job.owner, job.conversationId, 10)).toEqual([])
  })
})

import { describe, expect, test } from 'bun:test'
import type { Usage } from '../src/job.ts'
import type { Store } from '../src/store/store.ts'
import { closedAfterEach, storeAdapters } from './support/stores.ts'

/* Usage counted with each stored answer, and read back by day, owner and model, both adapters. */

const adapters = storeAdapters('PostgresStore (usage)')
const opened = closedAfterEach()

const DAY1 = Date.UTC(2026, 0, 1, 23, 59)
const DAY2 = Date.UTC(2026, 0, 2, 0, 1)
let counter = 0

async function answered(store: Store, owner: string, model: string, usage: Usage | null, now: number) {
  const id = `job-${++counter}`
  await store.acceptJob({
    id,
    owner,
    conversationId: id,
    message: 'm',
    callbackUrl: 'https://example.com/hook',
    model,
    systemPrompt: '',
    metadata: null,
    idempotencyKey: null,
    requestHash: '',
    now,
  })
  const [claimed] = await store.claimJobs({ workerId: 'w', now, leaseMs: 1000, limit: 1, llmLimit: 1 })
  expect(claimed?.id).toBe(id)
  await store.recordAnswer(id, 'w', { response: 'r', model, usage }, now)
}

const tokens = (prompt: number, completion: number, cost?: number): Usage => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
  ...(cost === undefined ? {} : { cost }),
})

for (const adapter of adapters) {
  describe(`${adapter.name}: usage`, () => {
    test('each answer adds its tokens and cost to its owner, model and UTC day', async () => {
      const store = await adapter.fresh().open()
      opened.push(store)
      await answered(store, 'client:a', 'm1', tokens(10, 5, 0.5), DAY1)
      await answered(store, 'client:a', 'm1', tokens(1, 1, 0.25), DAY1)
      await answered(store, 'client:a', 'm2', tokens(100, 50), DAY2)
      await answered(store, 'client:b', 'm1', tokens(7, 3), DAY2)
      await answered(store, 'client:b', 'm1', null, DAY2)
      expect(await store.usage.tokensOn('client:a', '2026-01-01')).toBe(17)
      expect(await store.usage.tokensOn('client:a', '2026-01-02')).toBe(150)
      expect(await store.usage.tokensOn('client:c', '2026-01-02')).toBe(0)

      const all = { from: '2026-01-01', to: '2026-01-02', owner: undefined }
      expect(await store.usage.report({ ...all, groupBy: 'client' })).toEqual([
        { key: 'client:a', jobs: 3, promptTokens: 111, completionTokens: 56, totalTokens: 167, cost: 0.75 },
        { key: 'client:b', jobs: 2, promptTokens: 7, completionTokens: 3, totalTokens: 10, cost: null },
      ])
      expect((await store.usage.report({ ...all, groupBy: 'model' })).map((l) => [l.key, l.jobs])).toEqual([
        ['m1', 4],
        ['m2', 1],
      ])
      expect(
        (await store.usage.report({ ...all, groupBy: 'day', owner: 'client:a' })).map((l) => [
          l.key,
          l.totalTokens,
        ]),
      ).toEqual([
        ['2026-01-01', 17],
        ['2026-01-02', 150],
      ])
      expect(
        await store.usage.report({
          from: '2026-01-02',
          to: '2026-01-02',
          groupBy: 'client',
          owner: 'client:a',
        }),
      ).toEqual([
        { key: 'client:a', jobs: 1, promptTokens: 100, completionTokens: 50, totalTokens: 150, cost: null },
      ])
    })
  })
}

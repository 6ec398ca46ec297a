import { describe, expect, test } from 'bun:test'
import { closedAfterEach, storeAdapters, T0 } from './support/stores.ts'

/* The fair-share claim on both stores: one head per named owner first, then due order. */

const adapters = storeAdapters('PostgresStore (fair-share claims)')
const opened = closedAfterEach()

for (const adapter of adapters) {
  describe(`${adapter.name}: fair-share claims`, () => {
    test('the named owners’ oldest due heads first, one each, then due order; waiting jobs never', async () => {
      const store = await adapter.fresh().open()
      opened.push(store)
      const accept = (id: string, owner: string, conversationId: string, now: number) =>
        store.acceptJob({
          id,
          owner,
          conversationId,
          message: id,
          callbackUrl: 'https://example.com/hook',
          model: 'm',
          systemPrompt: '',
          metadata: null,
          idempotencyKey: null,
          requestHash: '',
          now,
        })
      await accept('a1', 'a', 'a-conv', T0)
      await accept('a2', 'a', 'a-conv', T0 + 1) // waits behind a1: its conversation's line
      await accept('a3', 'a', 'a-other', T0 + 2)
      await accept('b1', 'b', 'b-conv', T0 + 3)
      expect((await store.dueLlmOwners(T0 + 10)).sort()).toEqual(['a', 'b'])
      const claim = (llmLimit: number, llmOwners: string[]) =>
        store.claimJobs({ workerId: 'w', now: T0 + 10, leaseMs: 1000, limit: llmLimit, llmLimit, llmOwners })
      expect((await claim(1, ['b', 'a'])).map((j) => j.id)).toEqual(['b1'])
      expect((await claim(3, ['a'])).map((j) => j.id).sort()).toEqual(['a1', 'a3'])
      expect(await store.dueLlmOwners(T0 + 10)).toEqual([])
    })
  })
}

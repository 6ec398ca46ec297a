import { afterAll, expect, test } from 'bun:test'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

// LLM_MAX_RPM rations the calls; the budget's minute runs on this clock.
const A = 'client-a-key-0123456789abcdef'
const B = 'client-b-key-0123456789abcdef'
const clock = new ManualClock(Date.UTC(2026, 0, 1, 12))
let relay: TestRelay
afterAll(() => relay.close())

test('with client A holding 2 000 queued jobs, client B’s one job gets the next budget slot', async () => {
  relay = await startTestRelay({ API_KEYS: `a:${A},b:${B}`, LLM_MAX_RPM: '3' }, { clock })
  // A's burst, queued straight into the store (as 2 000 POSTs would), each its own conversation.
  for (let i = 0; i < 2000; i += 200)
    await Promise.all(
      Array.from({ length: 200 }, (_, k) =>
        relay.store.acceptJob({
          id: `a-${i + k}`,
          owner: 'a',
          conversationId: `a-${i + k}`,
          message: `a ${i + k}`,
          callbackUrl: `${relay.sink.url}/hook`,
          model: 'fake/model',
          systemPrompt: '',
          metadata: null,
          idempotencyKey: null,
          requestHash: '',
          now: clock.now(),
        }),
      ),
    )
  relay.worker.wake()
  // The minute's three calls go to A.
  await eventually(async () => relay.llm.calls.length >= 3 || undefined, 'A’s first three calls')
  const b = await relay.post(
    { message: 'b needs one answer', callback_url: `${relay.sink.url}/hook`, conversation_id: 'b' },
    { authorization: `Bearer ${B}` },
  )
  expect(b.status).toBe(202)
  await Bun.sleep(50)
  expect(relay.llm.calls).toHaveLength(3)

  // The next minute: B's job takes the first slot, then A goes on.
  await clock.advanceUntil(1000, () => relay.llm.calls.length >= 6 || undefined, 'the next minute’s calls')
  const messages = relay.llm.calls.map((c) => c.body.messages.at(-1)?.content)
  expect(messages.slice(0, 3).every((m) => m?.startsWith('a '))).toBe(true)
  expect(messages[3]).toBe('b needs one answer')
  expect(messages.slice(4, 6).every((m) => m?.startsWith('a '))).toBe(true)
  // A's jobs still go oldest first (calls in flight together may arrive in any order).
  expect(new Set(messages.filter((m) => m?.startsWith('a ')))).toEqual(
    new Set(['a 0', 'a 1', 'a 2', 'a 3', 'a 4']),
  )
}, 30_000)

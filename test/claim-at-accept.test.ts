import { afterEach, expect, test } from 'bun:test'
import { startTestRelay, type TestRelay } from './support/relay.ts'

/*
 * Claim at accept: a job that can start at once (a free LLM slot in this process, nothing open
 * before it in its conversation) is committed already leased to this process's worker and
 * handed to it as the accept returns; the 202 then says `processing`. Anything else is
 * accepted `queued`, for the claim loop, as before.
 */

let relay: TestRelay | undefined
afterEach(async () => {
  await relay?.close()
  relay = undefined
})

const accept = async (r: TestRelay, message: string, conversation: string) => {
  const response = await r.post({
    message,
    callback_url: `${r.sink.url}/hook`,
    conversation_id: conversation,
  })
  expect(response.status).toBe(202)
  return (await response.json()) as { id: string; status: string }
}

test('a job that can start at once is accepted processing, leased, with its one LLM attempt counted', async () => {
  relay = await startTestRelay()
  const held = relay.llm.hold()
  const job = await accept(relay, 'at once', 'c-1')
  expect(job.status).toBe('processing')
  await held.received
  const view = await relay.job(job.id)
  expect(view).toMatchObject({ status: 'processing', attempts: { llm: 1, delivery: 0 } })
  held.release()
  const [callback] = await relay.sink.waitForJob(job.id)
  expect(callback?.body.data.response).toBe('echo: at once')
  expect(relay.llm.calls).toHaveLength(1)
})

test('a message behind an open one of its conversation is accepted queued and answered after it, seeing it', async () => {
  relay = await startTestRelay({ WORKER_CONCURRENCY: '2' })
  const held = relay.llm.hold()
  const first = await accept(relay, 'first', 'line')
  await held.received
  const second = await accept(relay, 'second', 'line')
  expect([first.status, second.status]).toEqual(['processing', 'queued'])
  // The slot offered to it is free again: another conversation takes it at once.
  const other = await accept(relay, 'elsewhere', 'other')
  expect(other.status).toBe('processing')
  held.release()
  await relay.sink.waitForJob(second.id)
  const call = relay.llm.calls.find((c) => c.body.messages.at(-1)?.content === 'second')
  expect(call?.body.messages.map((m) => m.content)).toContain('echo: first')
})

test('with every LLM slot busy a job is accepted queued, and the claim loop takes it when a slot frees', async () => {
  relay = await startTestRelay({ WORKER_CONCURRENCY: '1' })
  const held = relay.llm.hold()
  const busy = await accept(relay, 'holding the slot', 'a')
  await held.received
  const waiting = await accept(relay, 'waiting for a slot', 'b')
  expect([busy.status, waiting.status]).toEqual(['processing', 'queued'])
  held.release()
  const [callback] = await relay.sink.waitForJob(waiting.id)
  expect(callback?.body.data.response).toBe('echo: waiting for a slot')
})

test('a replay under the same Idempotency-Key takes no slot and starts nothing', async () => {
  relay = await startTestRelay({ WORKER_CONCURRENCY: '1' })
  const body = { message: 'once', callback_url: `${relay.sink.url}/hook`, conversation_id: 'idem' }
  const first = await relay.post(body, { 'idempotency-key': 'k-1' })
  expect(first.status).toBe(202)
  const { id } = (await first.json()) as { id: string }
  await relay.sink.waitForJob(id)
  const replay = await relay.post(body, { 'idempotency-key': 'k-1' })
  expect(replay.status).toBe(200)
  // The one slot is free: a new job still starts at once.
  expect((await accept(relay, 'next', 'other')).status).toBe('processing')
  await relay.sink.waitFor(2)
  expect(relay.llm.calls.map((c) => c.body.messages.at(-1)?.content)).toEqual(['once', 'next'])
})

test('while LLM_MAX_RPM rations the calls a job is accepted queued: the claim loop hands the calls out', async () => {
  relay = await startTestRelay({ LLM_MAX_RPM: '100' })
  const job = await accept(relay, 'rationed', 'r')
  expect(job.status).toBe('queued')
  const [callback] = await relay.sink.waitForJob(job.id)
  expect(callback?.body.data.response).toBe('echo: rationed')
})

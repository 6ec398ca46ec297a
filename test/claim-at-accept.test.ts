import { afterEach, expect, test } from 'bun:test'
import type { ClaimOffer } from '../src/intake/intake.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

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

/**
 * A relay with one LLM slot, and a claim round in flight for a job due in the store (as from
 * another instance, no wake-up told of it) when a claim at accept takes that slot. Resolves
 * once the claim has handed its job to the worker.
 */
async function slotTakenDuringClaim(): Promise<{
  r: TestRelay
  waiting: string
  offer: ClaimOffer | undefined
  owner: string
}> {
  relay = await startTestRelay({ WORKER_CONCURRENCY: '1' })
  const r = relay
  const first = await accept(r, 'first', 'owner-probe')
  await r.sink.waitForJob(first.id)
  await eventually(async () => r.worker.activeJobs === 0, 'the first job to end')
  const owner = (await r.store.ownerOfJob(first.id)) ?? ''
  // A job due in the store that no wake-up has told the worker of (as from another instance).
  const waiting = 'waiting-in-store'
  const accepted = await r.store.acceptJob({
    id: waiting,
    owner,
    conversationId: 'from-elsewhere',
    message: 'claimed in flight',
    callbackUrl: `${r.sink.url}/hook`,
    model: 'fake/model',
    systemPrompt: 'Answer briefly.',
    metadata: null,
    idempotencyKey: null,
    requestHash: '',
    now: Date.now(),
  })
  expect(accepted).toMatchObject({ kind: 'created', job: { status: 'queued' } })
  // A claim round starts, counting the one free slot; before the store answers it, a claim at
  // accept takes that slot.
  r.worker.wake()
  const offer = r.worker.offerClaim()
  expect(offer).toBeDefined()
  const waits = (line: string) => line.includes('claimed job waits for a slot') && line.includes(waiting)
  await eventually(async () => r.logs.some(waits) || r.llm.calls.length > 1, 'the claim to hand its job over')
  return { r, waiting, offer, owner }
}

test('a claim at accept that takes the slot a claim in flight counted on: the job claimed for it waits for the next slot, leased', async () => {
  const { r, waiting, offer } = await slotTakenDuringClaim()
  // The slot is the offer's: the job claimed meanwhile holds its lease but has not called the LLM.
  expect(r.llm.calls).toHaveLength(1)
  expect(await r.job(waiting)).toMatchObject({ status: 'processing', attempts: { llm: 1 } })
  // A new job finds no slot free, and no claim runs ahead of the one waiting.
  expect((await accept(r, 'behind the waiting one', 'later')).status).toBe('queued')
  offer?.declined()
  const [callback] = await r.sink.waitForJob(waiting)
  expect(callback?.body.data.response).toBe('echo: claimed in flight')
  expect(await r.waitForStatus(waiting, 'delivered')).toMatchObject({ attempts: { llm: 1 } })
  await r.sink.waitFor(3)
  expect(r.llm.calls.map((c) => c.body.messages.at(-1)?.content)).toEqual([
    'first',
    'claimed in flight',
    'behind the waiting one',
  ])
  expect(r.llm.maxInFlight).toBe(1)
})

test('a job claimed while its slot was taken, still waiting as the relay stops: no LLM call, its lease and attempt given back', async () => {
  const { r, waiting, owner } = await slotTakenDuringClaim()
  await r.worker.stop(1000)
  expect(r.llm.calls).toHaveLength(1)
  expect(await r.store.getJob(waiting, owner, Date.now())).toMatchObject({ status: 'queued', llmAttempts: 0 })
})

test('a job queued while a claim at accept holds the one slot runs as soon as that accept declines it', async () => {
  relay = await startTestRelay({ WORKER_CONCURRENCY: '1' })
  const r = relay
  const offer = r.worker.offerClaim()
  expect(offer).toBeDefined()
  const waiting = await accept(r, 'behind a declined offer', 'd')
  expect(waiting.status).toBe('queued')
  // The claim loop's round for it (woken by the accept) found no LLM slot free; a listing
  // waits for the writes queued before it, that round's claim among them.
  expect((await r.store.listJobs({ owner: undefined, limit: 10 })).jobs.map((j) => j.status)).toEqual([
    'queued',
  ])
  offer?.declined()
  const [callback] = await r.sink.waitForJob(waiting.id)
  expect(callback?.body.data.response).toBe('echo: behind a declined offer')
})

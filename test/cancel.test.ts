import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { type JobView, startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

/*
 * POST /jobs/{id}/cancel at each status, on a real relay (SQLite) with a fake LLM and a
 * callback sink. A cancelled job ends as `cancelled`: nothing of it joins history, no
 * callback is sent for it, and its conversation's next message goes on.
 */

async function withRelay(env: Record<string, string>, body: (relay: TestRelay) => Promise<void>) {
  const relay = await startTestRelay(env)
  try {
    await body(relay)
  } finally {
    await relay.close()
  }
}

const cancel = (relay: TestRelay, id: string, headers: Record<string, string> = {}) =>
  fetch(`${relay.url}/jobs/${id}/cancel`, { method: 'POST', headers })

async function cancelled(relay: TestRelay, id: string): Promise<JobView> {
  const response = await cancel(relay, id)
  expect(response.status).toBe(200)
  const view = (await response.json()) as JobView
  expect(view).toMatchObject({ id, status: 'cancelled' })
  return view
}

const history = async (relay: TestRelay, conversation: string) =>
  (
    (await (await fetch(`${relay.url}/conversations/${conversation}`)).json()) as {
      messages: { role: string; content: string; job_id: string }[]
    }
  ).messages

/** The LLM call that carries `message` as its last message. */
const callFor = (relay: TestRelay, message: string) =>
  relay.llm.calls.find((c) => c.body.messages.at(-1)?.content === message)

test('a queued job waiting its turn: cancelled at once; the line goes on past it, and nothing of it reaches the LLM, history or a callback', async () => {
  await withRelay({}, async (relay) => {
    const held = relay.llm.hold()
    const first = await relay.send('first', { conversation_id: 'line' })
    await held.received
    const second = await relay.send('second', { conversation_id: 'line' })
    const third = await relay.send('third', { conversation_id: 'line' })
    expect((await relay.job(second.id)).status).toBe('queued')

    const view = await cancelled(relay, second.id)
    expect(view).toMatchObject({ response: null, attempts: { llm: 0, delivery: 0 }, deliveries: [] })
    held.release()

    await relay.sink.waitForJob(third.id)
    expect(callFor(relay, 'second')).toBeUndefined()
    // The third message's context holds the first exchange and nothing of the second.
    expect(callFor(relay, 'third')?.body.messages.map((m) => m.content)).toEqual([
      'You are a helpful assistant.',
      'first',
      'echo: first',
      'third',
    ])
    expect((await history(relay, 'line')).map((m) => m.job_id)).toEqual([
      first.id,
      first.id,
      third.id,
      third.id,
    ])
    expect(relay.sink.forJob(second.id)).toEqual([])
    expect((await relay.job(second.id)).status).toBe('cancelled')
  })
})

test('a queued job at the head of its line (no LLM slot free): cancelled, and the next message takes its place', async () => {
  await withRelay({ WORKER_CONCURRENCY: '1' }, async (relay) => {
    const held = relay.llm.hold()
    const busy = await relay.send('the only slot', { conversation_id: 'other' })
    await held.received
    const head = await relay.send('head', { conversation_id: 'headed' })
    const next = await relay.send('next', { conversation_id: 'headed' })
    expect((await relay.job(head.id)).status).toBe('queued')

    await cancelled(relay, head.id)
    held.release()
    const [callback] = await relay.sink.waitForJob(next.id)
    expect(callback?.body.data).toMatchObject({ response: 'echo: next', sequence: 2 })
    await relay.sink.waitForJob(busy.id)
    expect(callFor(relay, 'head')).toBeUndefined()
    expect(relay.sink.forJob(head.id)).toEqual([])
    expect((await history(relay, 'headed')).map((m) => m.content)).toEqual(['next', 'echo: next'])
  })
})

test('a processing job: its LLM call is aborted, the next message goes on, no callback; the metric counts it', async () => {
  await withRelay({}, async (relay) => {
    const held = relay.llm.hold()
    const slow = await relay.send('slow', { conversation_id: 'slow' })
    await held.received
    const after = await relay.send('after', { conversation_id: 'slow' })
    expect((await relay.job(slow.id)).status).toBe('processing')

    const view = await cancelled(relay, slow.id)
    expect(view.attempts.llm).toBe(1)
    const call = callFor(relay, 'slow')
    if (!call) throw new Error('the slow call never reached the LLM')
    await relay.llm.waitForAbort(call)
    const [callback] = await relay.sink.waitForJob(after.id)
    expect(callback?.body.data.response).toBe('echo: after')
    // Answered anyway once the call is let go: dropped, the job stays cancelled.
    held.release()
    expect((await history(relay, 'slow')).map((m) => m.job_id)).toEqual([after.id, after.id])
    expect(relay.sink.forJob(slow.id)).toEqual([])
    expect((await relay.job(slow.id)).status).toBe('cancelled')
    const metrics = await (await fetch(`${relay.url}/metrics`)).text()
    expect(metrics).toContain('llm_relay_jobs_finished_total{status="cancelled",type="none"} 1')
    expect(relay.logs.some((l) => l.includes(slow.id) && l.includes('LLM call stopped'))).toBe(true)
  })
})

test('a delivering job with a failing receiver: its retries stop', async () => {
  await withRelay({ CALLBACK_RETRY_SCHEDULE: '1h' }, async (relay) => {
    relay.sink.fail(500)
    const { id } = await relay.send('undeliverable')
    const failing = await eventually(async () => {
      const view = await relay.job(id)
      return view.deliveries.length === 1 && view
    }, 'the first failed callback attempt')
    expect(failing.status).toBe('delivering')
    expect(await relay.store.nextWakeAt(Date.now())).toBeDefined()

    const view = await cancelled(relay, id)
    expect(view.response).toBe('echo: undeliverable')
    expect(view.deliveries).toHaveLength(1)
    // Nothing is due any more, nor open: no worker will claim it again.
    expect(await relay.store.nextWakeAt(Date.now())).toBeUndefined()
    expect(await relay.store.countOpenJobs()).toEqual({
      queued: 0,
      processing: 0,
      awaiting_tool_results: 0,
      delivering: 0,
    })
    expect(relay.sink.forJob(id)).toHaveLength(1)
    // The answer had joined history before the cancel, and stays there.
    expect((await history(relay, view.conversation_id)).map((m) => m.role)).toEqual(['user', 'assistant'])
  })
})

test('a delivering job with a callback in flight: it reaches the receiver, but its outcome is not recorded', async () => {
  await withRelay({}, async (relay) => {
    const gate = relay.sink.hold()
    const { id } = await relay.send('in flight')
    await relay.sink.waitForJob(id)
    expect((await relay.job(id)).status).toBe('delivering')

    await cancelled(relay, id)
    gate.release()
    await eventually(
      async () => relay.logs.some((l) => l.includes(id) && l.includes('"recorded":false')),
      'the refused outcome of the attempt in flight',
    )
    expect(await relay.job(id)).toMatchObject({
      status: 'cancelled',
      deliveries: [],
      attempts: { delivery: 0 },
    })
    expect(relay.sink.forJob(id)).toHaveLength(1)
  })
})

test('a finished job answers 409; a cancelled one again 200 with the same job; an unknown one 404', async () => {
  await withRelay({}, async (relay) => {
    const { id } = await relay.send('done')
    await relay.waitForStatus(id, 'delivered')
    const finished = await cancel(relay, id)
    expect(finished.status).toBe(409)
    expect(finished.headers.get('content-type')).toContain('application/problem+json')
    expect(await finished.json()).toMatchObject({
      status: 409,
      detail: 'The job is delivered already; there is nothing left to cancel.',
    })
    expect((await relay.job(id)).status).toBe('delivered')

    const held = relay.llm.hold()
    const slow = await relay.send('twice')
    await held.received
    const once = await cancelled(relay, slow.id)
    const twice = await cancelled(relay, slow.id)
    expect(twice).toEqual(once)
    held.release()
    // A cancelled job is not redelivered: it has nothing to send.
    const redeliver = await fetch(`${relay.url}/jobs/${slow.id}/redeliver`, { method: 'POST' })
    expect(redeliver.status).toBe(409)

    const unknown = await cancel(relay, 'no-such-job')
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toMatchObject({ status: 404, detail: 'No job no-such-job.' })
    const tooLong = await cancel(relay, 'x'.repeat(65))
    expect(tooLong.status).toBe(422)
  })
})

test('a `Prefer: wait` request for a job that is cancelled answers at once: 200 with the cancelled job', async () => {
  await withRelay({}, async (relay) => {
    const held = relay.llm.hold()
    const waiting = relay.post(
      { message: 'wait on me', callback_url: `${relay.sink.url}/hook` },
      { prefer: 'wait=30' },
    )
    await held.received
    const db = new Database(join(relay.dir, 'relay.db'), { readonly: true })
    const row = db.query<{ id: string }, []>("SELECT id FROM jobs WHERE status = 'processing'").get()
    db.close()
    if (!row) throw new Error('no job in processing')
    await cancelled(relay, row.id)
    const response = await waiting
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ id: row.id, status: 'cancelled', response: null })
    held.release()
  })
})

test('another client’s job is not found, and stays as it was', async () => {
  const keys = { API_KEYS: 'alpha:alpha-key-0123456789abcdef,beta:beta-key-0123456789abcdef' }
  await withRelay(keys, async (relay) => {
    const held = relay.llm.hold()
    const response = await relay.post(
      { message: 'mine', callback_url: `${relay.sink.url}/hook` },
      { authorization: 'Bearer alpha-key-0123456789abcdef' },
    )
    const { id } = (await response.json()) as { id: string }
    await held.received
    const other = await cancel(relay, id, { authorization: 'Bearer beta-key-0123456789abcdef' })
    expect(other.status).toBe(404)
    const own = await fetch(`${relay.url}/jobs/${id}`, {
      headers: { authorization: 'Bearer alpha-key-0123456789abcdef' },
    })
    expect(((await own.json()) as JobView).status).toBe('processing')
    const mine = await cancel(relay, id, { authorization: 'Bearer alpha-key-0123456789abcdef' })
    expect(mine.status).toBe(200)
    held.release()
  })
})

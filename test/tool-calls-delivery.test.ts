import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { completion, toolCallsAnswer } from './support/fake-llm.ts'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'
import { submitResults, TOOLS } from './support/tools.ts'

/*
 * The job.tool_calls event is a callback like any other (retried on CALLBACK_RETRY_SCHEDULE
 * under one webhook-id), and TOOL_RESULTS_TIMEOUT runs on the clock. CALLBACK_RETRY_SCHEDULE is
 * 20ms,20ms here; this clock moves only when a test moves it.
 */

const clock = new ManualClock(Date.now())
let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay({ TOOL_RESULTS_TIMEOUT: '1m' }, { clock })
})
afterAll(() => relay.close())

const ORDER_CALL = [{ id: 'call_1', name: 'get_order', arguments: { number: 'A-1' } }]

/** Sends a message whose model calls `get_order`; resolves once its first event attempt arrived. */
async function callingTools(conversation: string): Promise<string> {
  relay.llm.next(toolCallsAnswer(ORDER_CALL))
  const { id } = await relay.send('use the tools', { conversation_id: conversation, llm: { tools: TOOLS } })
  await relay.sink.waitForEvents(id, 'job.tool_calls')
  return id
}

const events = (id: string) => relay.sink.toolCallsFor(id)

describe('the job.tool_calls event', () => {
  test('a failed attempt is retried on the schedule with the same webhook-id and body', async () => {
    relay.sink.respond(500)
    const id = await callingTools('tools-retry')
    await clock.advanceUntil(20, () => events(id).length >= 2, 'the retry of the event')
    const [first, second] = events(id)
    expect(second?.headers.get('webhook-id')).toBe(first?.headers.get('webhook-id') ?? 'none')
    expect(second?.raw).toBe(first?.raw ?? 'none')
    const view = await eventually(async () => {
      const v = await relay.job(id)
      return v.deliveries.length === 2 && v
    }, 'two recorded attempts')
    expect(view.status).toBe('awaiting_tool_results')
    expect(view.deliveries.map((d) => d.status_code)).toEqual([500, 200])
    // Delivered: never sent again, however long the wait.
    await clock.advance(30_000)
    expect(events(id)).toHaveLength(2)
  })

  test('a receiver that never takes it leaves the job awaiting: results are still taken, and the model goes on', async () => {
    relay.sink.fail(503)
    const id = await callingTools('tools-unreachable')
    // The first attempt and the two retries of the schedule, then no more.
    await clock.advanceUntil(20, () => events(id).length >= 3, 'every attempt of the schedule')
    await eventually(async () => (await relay.job(id)).deliveries.length === 3, 'three recorded attempts')
    await clock.advance(1000)
    expect(events(id)).toHaveLength(3)
    relay.sink.recover()
    const view = await relay.job(id)
    expect(view.status).toBe('awaiting_tool_results')
    expect(view.tool_calls?.map((c) => c.id)).toEqual(['call_1'])
    relay.llm.next((call) => completion('A-1 has shipped.', call.body.model))
    expect(
      (await submitResults(relay.url, id, [{ tool_call_id: 'call_1', content: 'shipped' }])).status,
    ).toBe(202)
    const [done] = await relay.sink.waitForEvents(id, 'job.completed')
    expect(done?.body.data.response).toBe('A-1 has shipped.')
  })

  test('results sent before the receiver answered the event are taken, and the job goes on at once', async () => {
    const held = relay.sink.hold()
    relay.llm.next(toolCallsAnswer(ORDER_CALL), (call) => completion('done early', call.body.model))
    const { id } = await relay.send('quick', { conversation_id: 'tools-early', llm: { tools: TOOLS } })
    await relay.sink.waitForEvents(id, 'job.tool_calls')
    // The receiver runs the tool and answers the relay before it answers the POST.
    expect((await submitResults(relay.url, id, [{ tool_call_id: 'call_1', content: 'ok' }])).status).toBe(202)
    const [done] = await relay.sink.waitForEvents(id, 'job.completed')
    held.release()
    expect(done?.body.data.response).toBe('done early')
    expect(events(id)).toHaveLength(1)
    await relay.waitForStatus(id, 'delivered')
  })
})

describe('TOOL_RESULTS_TIMEOUT', () => {
  test('results that do not come in time fail the job with tool_results_timeout; the conversation goes on', async () => {
    const id = await callingTools('tools-timeout')
    await relay.waitForStatus(id, 'awaiting_tool_results')
    const next = await relay.send('still there?', { conversation_id: 'tools-timeout' })
    await clock.advance(59_000)
    expect((await relay.job(id)).status).toBe('awaiting_tool_results')
    expect(relay.sink.forJob(next.id)).toHaveLength(0)
    await clock.advance(1_000)
    const [failed] = await relay.sink.waitForEvents(id, 'job.failed')
    expect(failed?.body.data.error).toEqual({
      code: 'tool_results_timeout',
      message: 'No tool results came within TOOL_RESULTS_TIMEOUT (60 s).',
    })
    expect(failed?.headers.get('webhook-id')).toBe(id)
    const [answered] = await relay.sink.waitForJob(next.id)
    expect(answered?.body.data.response).toBe('echo: still there?')
    const late = await submitResults(relay.url, id, [{ tool_call_id: 'call_1', content: 'too late' }])
    expect(late.status).toBe(409)
    const history = (await (await fetch(`${relay.url}/conversations/tools-timeout`)).json()) as {
      messages: { content: string }[]
    }
    expect(history.messages.map((m) => m.content)).toEqual(['still there?', 'echo: still there?'])
  })
})

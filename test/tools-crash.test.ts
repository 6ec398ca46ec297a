import { afterAll, expect, test } from 'bun:test'
import { Webhook } from 'standardwebhooks'
import { completion, toolCallsAnswer } from './support/fake-llm.ts'
import { openOutsideWorld } from './support/outside-world.ts'
import { type RelayProcess, spawnRelay } from './support/process.ts'
import { type JobView, testEnv } from './support/relay.ts'
import { eventually } from './support/signal.ts'
import { submitResults, TOOLS } from './support/tools.ts'

const { dir, llm, sink, close } = openOutsideWorld('tools-crash')
afterAll(close)

const SECRET = `whsec_${Buffer.from('a-crash-test-signing-secret-32by').toString('base64')}`

const viewOf = async (relay: RelayProcess, id: string) =>
  (await (await fetch(`${relay.url}/jobs/${id}`)).json()) as JobView

async function killed(relay: RelayProcess): Promise<void> {
  relay.process.kill('SIGKILL')
  await relay.process.exited
}

test('relays killed while a job awaits its tool results and while its second round runs: no call sent twice or under another id, no result lost, history once', async () => {
  // A lease far longer than the test: only the restarts' recovery frees the job in time.
  const env = testEnv(dir, llm, { JOB_LEASE: '2m', LOG_LEVEL: 'info', CALLBACK_SECRET: SECRET })
  const first = await spawnRelay(env, dir)
  llm.next(toolCallsAnswer([{ id: 'call_1', name: 'get_order', arguments: { number: 'A-1' } }]))
  const response = await fetch(`${first.url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message: 'Where is A-1?',
      callback_url: `${sink.url}/hook`,
      conversation_id: 'tools-crash',
      llm: { tools: TOOLS },
    }),
  })
  expect(response.status).toBe(202)
  const { id } = (await response.json()) as { id: string }
  await sink.waitForEvents(id, 'job.tool_calls')
  // Killed while it awaits the results, once the event's delivery is recorded.
  await eventually(async () => (await viewOf(first, id)).deliveries.length === 1, 'the event recorded')
  await killed(first)

  const second = await spawnRelay(env, dir)
  const resumed = await viewOf(second, id)
  expect(resumed).toMatchObject({ status: 'awaiting_tool_results', tool_rounds: 1 })
  expect(resumed.tool_calls).toEqual([{ id: 'call_1', name: 'get_order', arguments: { number: 'A-1' } }])
  const held = llm.hold()
  const callsBefore = llm.calls.length
  expect((await submitResults(second.url, id, [{ tool_call_id: 'call_1', content: 'shipped' }])).status).toBe(
    202,
  )
  // Killed while the second round's LLM call runs.
  await held.received
  await killed(second)
  held.release()

  llm.next((call) => completion('A-1 has shipped.', call.body.model))
  const third = await spawnRelay(env, dir)
  try {
    const [done] = await sink.waitForEvents(id, 'job.completed', 1, 15_000)
    if (!done) throw new Error('no job.completed')
    expect(done.body.data.response).toBe('A-1 has shipped.')
    expect(done.headers.get('webhook-id')).toBe(id)
    expect(new Webhook(SECRET).verify(done.raw, Object.fromEntries(done.headers.entries()))).toEqual(
      done.body,
    )

    // The calls went out once, under the round's one id; no other event reached the receiver.
    const events = sink.toolCallsFor(id)
    expect(events.map((e) => e.headers.get('webhook-id'))).toEqual([`${id}_tool_calls_1`])
    expect(sink.forJob(id).map((r) => r.body.type as string)).toEqual(['job.tool_calls', 'job.completed'])
    // The second round was asked twice (the kill), both times with the results as submitted.
    const secondRound = llm.calls.slice(callsBefore)
    expect(secondRound).toHaveLength(2)
    for (const call of secondRound)
      expect(call.body.messages.slice(-2)).toEqual([
        expect.objectContaining({
          role: 'assistant',
          tool_calls: [expect.objectContaining({ id: 'call_1' })],
        }),
        { role: 'tool', tool_call_id: 'call_1', content: 'shipped' },
      ])

    const view = await eventually(async () => {
      const v = await viewOf(third, id)
      return v.status === 'delivered' && v
    }, 'the job to be delivered')
    expect(view).toMatchObject({ tool_rounds: 1, attempts: { llm: 3 } })
    const history = (await (await fetch(`${third.url}/conversations/tools-crash`)).json()) as {
      messages: { role: string; content: string; tool_call_id?: string }[]
    }
    expect(history.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'Where is A-1?'],
      ['assistant', ''],
      ['tool', 'shipped'],
      ['assistant', 'A-1 has shipped.'],
    ])
  } finally {
    third.process.kill('SIGTERM')
    expect(await third.process.exited).toBe(0)
  }
}, 60_000)

test('a relay killed while the job.tool_calls event is on its way sends it again after the restart, under the same webhook-id', async () => {
  const env = testEnv(dir, llm, { JOB_LEASE: '2m', LOG_LEVEL: 'info', CALLBACK_SECRET: SECRET })
  const first = await spawnRelay(env, dir)
  llm.next(toolCallsAnswer([{ id: 'call_9', name: 'get_weather', arguments: { city: 'Oslo' } }]))
  const held = sink.hold()
  const response = await fetch(`${first.url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message: 'Weather?',
      callback_url: `${sink.url}/hook`,
      conversation_id: 'tools-crash-event',
      llm: { tools: TOOLS },
    }),
  })
  const { id } = (await response.json()) as { id: string }
  await sink.waitForEvents(id, 'job.tool_calls')
  await killed(first)
  held.release()

  const second = await spawnRelay(env, dir)
  try {
    const [sent, again] = await sink.waitForEvents(id, 'job.tool_calls', 2, 15_000)
    expect(again?.headers.get('webhook-id')).toBe(`${id}_tool_calls_1`)
    expect(again?.headers.get('webhook-id')).toBe(sent?.headers.get('webhook-id') ?? 'none')
    expect(again?.raw).toBe(sent?.raw ?? 'none')
    expect(llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'Weather?')).toHaveLength(1)
    await eventually(async () => (await viewOf(second, id)).deliveries.length === 1, 'the event recorded')
    expect((await viewOf(second, id)).status).toBe('awaiting_tool_results')
  } finally {
    second.process.kill('SIGTERM')
    expect(await second.process.exited).toBe(0)
  }
}, 60_000)

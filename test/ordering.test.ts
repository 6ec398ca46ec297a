import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay({ SYSTEM_PROMPT: 'Be brief.' })
})
afterAll(() => relay.close())

const callFor = (message: string) => relay.llm.calls.find((c) => c.body.messages.at(-1)?.content === message)

describe('one conversation, one line', () => {
  test('five messages accepted back to back are answered in order, each seeing exactly the ones before', async () => {
    relay.llm.latencyMs = 15
    const accepted = await Promise.all(
      [1, 2, 3, 4, 5].map(async (n) => {
        // Sequential posts: acceptance order is the order of the 202s.
        return n
      }),
    )
    const ids: string[] = []
    for (const n of accepted) ids.push((await relay.send(`msg ${n}`, { conversation_id: 'line' })).id)
    await relay.sink.signal.until(() => ids.every((id) => relay.sink.forJob(id).length > 0), 'five callbacks')
    relay.llm.latencyMs = 0

    const calls = relay.llm.calls.filter((c) => c.body.messages.at(-1)?.content.startsWith('msg '))
    expect(calls.map((c) => c.body.messages.at(-1)?.content)).toEqual([
      'msg 1',
      'msg 2',
      'msg 3',
      'msg 4',
      'msg 5',
    ])
    calls.forEach((call, i) => {
      const expected = [{ role: 'system', content: 'Be brief.' }]
      for (let k = 1; k <= i; k++)
        expected.push({ role: 'user', content: `msg ${k}` }, { role: 'assistant', content: `echo: msg ${k}` })
      expected.push({ role: 'user', content: `msg ${i + 1}` })
      expect(call.body.messages).toEqual(expected)
    })
    const sequences = ids.map((id) => relay.sink.forJob(id)[0]?.body.data.sequence)
    expect(sequences).toEqual([1, 2, 3, 4, 5])

    const history = (await (await fetch(`${relay.url}/conversations/line`)).json()) as {
      id: string
      messages: { role: string; content: string; job_id: string }[]
    }
    expect(history.id).toBe('line')
    expect(history.messages.map((m) => `${m.role}:${m.content}`)).toEqual(
      [1, 2, 3, 4, 5].flatMap((n) => [`user:msg ${n}`, `assistant:echo: msg ${n}`]),
    )
    expect(history.messages[0]?.job_id).toBe(ids[0] as string)
  })

  test('a slow message does not hold up another conversation', async () => {
    const held = relay.llm.hold()
    const slow = await relay.send('slow one', { conversation_id: 'slow' })
    await held.received
    const fast = await relay.send('fast one', { conversation_id: 'fast' })
    await relay.sink.waitForJob(fast.id)
    expect(relay.sink.forJob(slow.id)).toHaveLength(0)
    held.release()
    await relay.sink.waitForJob(slow.id)
  })

  test('never more LLM calls at once than WORKER_CONCURRENCY, though a slot is claimed again as its job’s last write is queued', async () => {
    const two = await startTestRelay({ WORKER_CONCURRENCY: '2' })
    try {
      two.llm.latencyMs = 20
      const sent = []
      for (let i = 0; i < 12; i++) sent.push(await two.send(`parallel ${i}`, { conversation_id: `p-${i}` }))
      for (const { id } of sent) await two.waitForStatus(id, 'delivered')
      expect(two.llm.calls).toHaveLength(12)
      expect(two.llm.maxInFlight).toBe(2)
      expect(two.worker.activeJobs).toBe(0)
    } finally {
      await two.close()
    }
  })

  test('a callback receiver that hangs holds up no LLM call: callbacks have a pool of their own', async () => {
    const one = await startTestRelay({ WORKER_CONCURRENCY: '1', CALLBACK_TIMEOUT: '30s' })
    const held = one.sink.hold()
    try {
      const first = await one.send('first', { conversation_id: 'hang-1' })
      await one.sink.waitForJob(first.id)
      // The one LLM slot is free again while the one callback slot waits on the receiver.
      const second = await one.send('second', { conversation_id: 'hang-2' })
      await one.llm.waitForCalls(2)
      await one.waitForStatus(second.id, 'delivering')
      expect((await one.job(first.id)).status).toBe('delivering')
      // The second answer's callback waits for a callback slot, not in one.
      expect(one.sink.forJob(second.id)).toHaveLength(0)
      held.release()
      await one.waitForStatus(first.id, 'delivered')
      await one.waitForStatus(second.id, 'delivered')
      expect(one.sink.forJob(second.id)).toHaveLength(1)
    } finally {
      held.release()
      await one.close()
    }
  })

  test('the next message of a conversation waits while one is in flight', async () => {
    const held = relay.llm.hold()
    const first = await relay.send('first in flight', { conversation_id: 'wait' })
    await held.received
    const second = await relay.send('second waits', { conversation_id: 'wait' })
    // A message of another conversation goes through while this line is held…
    const other = await relay.send('elsewhere', { conversation_id: 'wait-other' })
    await relay.sink.waitForJob(other.id)
    // …but the second message of the held line was never sent to the LLM.
    expect(callFor('second waits')).toBeUndefined()
    expect((await relay.job(second.id)).status).toBe('queued')
    held.release()
    await relay.sink.waitForJob(second.id)
    expect(callFor('second waits')?.body.messages.map((m) => m.content)).toEqual([
      'Be brief.',
      'first in flight',
      'echo: first in flight',
      'second waits',
    ])
    expect((await relay.waitForStatus(first.id, 'delivered')).status).toBe('delivered')
  })
})

describe('history', () => {
  test('conversations are isolated from each other', async () => {
    const a = await relay.send('I am Alice', { conversation_id: 'alice' })
    const b = await relay.send('I am Bob', { conversation_id: 'bob' })
    await relay.sink.waitForJob(a.id)
    await relay.sink.waitForJob(b.id)
    const a2 = await relay.send('Who am I?', { conversation_id: 'alice' })
    await relay.sink.waitForJob(a2.id)
    const call = relay.llm.calls.find(
      (c) =>
        c.body.messages.at(-1)?.content === 'Who am I?' &&
        c.body.messages.some((m) => m.content === 'I am Alice'),
    )
    expect(call).toBeDefined()
    expect(call?.body.messages.some((m) => m.content.includes('Bob'))).toBe(false)
  })

  test('the LLM sees only the newest HISTORY_MAX_MESSAGES messages', async () => {
    const small = await startTestRelay({ HISTORY_MAX_MESSAGES: '2', SYSTEM_PROMPT: '' })
    try {
      for (const text of ['a', 'b', 'c']) {
        const { id } = await small.send(text, { conversation_id: 'short' })
        await small.sink.waitForJob(id)
      }
      const last = small.llm.calls.at(-1)
      expect(last?.body.messages).toEqual([
        { role: 'user', content: 'b' },
        { role: 'assistant', content: 'echo: b' },
        { role: 'user', content: 'c' },
      ])
    } finally {
      await small.close()
    }
  })

  test('a request’s system_prompt and model override the defaults', async () => {
    const { id } = await relay.send('override me', {
      conversation_id: 'override',
      system_prompt: 'Speak like a pirate.',
      model: 'other/model',
    })
    const [callback] = await relay.sink.waitForJob(id)
    const call = callFor('override me')
    expect(call?.body.model).toBe('other/model')
    expect(call?.body.messages[0]).toEqual({ role: 'system', content: 'Speak like a pirate.' })
    expect(callback?.body.data.model).toBe('other/model')
  })

  test('DELETE forgets a conversation; its next message starts afresh', async () => {
    const { id } = await relay.send('remember this', { conversation_id: 'forget-me' })
    await relay.sink.waitForJob(id)
    const deleted = await fetch(`${relay.url}/conversations/forget-me`, { method: 'DELETE' })
    expect(deleted.status).toBe(204)
    expect((await fetch(`${relay.url}/conversations/forget-me`)).status).toBe(404)
    expect((await fetch(`${relay.url}/conversations/forget-me`, { method: 'DELETE' })).status).toBe(404)
    const next = await relay.send('fresh start', { conversation_id: 'forget-me' })
    const [callback] = await relay.sink.waitForJob(next.id)
    // Sequence numbers keep rising across a forget, so receivers never see one twice.
    expect(callback?.body.data.sequence).toBe(2)
    expect(callFor('fresh start')?.body.messages.map((m) => m.content)).toEqual(['Be brief.', 'fresh start'])
  })

  test('an unknown conversation is a 404 problem', async () => {
    const response = await fetch(`${relay.url}/conversations/never-seen`)
    expect(response.status).toBe(404)
    expect(response.headers.get('content-type')).toStartWith('application/problem+json')
  })
})

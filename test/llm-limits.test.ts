import { describe, expect, test } from 'bun:test'
import { LocalCallBudget } from '../src/limits/call-budget.ts'
import { startTestRelay } from './support/relay.ts'

describe('LocalCallBudget (LLM_MAX_RPM)', () => {
  test('lets at most N calls start in any minute', async () => {
    const budget = new LocalCallBudget(2)
    expect(await budget.take(1, 0)).toBe(1)
    expect(await budget.take(5, 10_000)).toBe(1)
    expect(await budget.take(1, 20_000)).toBe(0)
    expect(await budget.nextSlotAt(20_000)).toBe(60_000)
    expect(await budget.take(5, 60_000)).toBe(1)
    expect(await budget.take(5, 70_000)).toBe(1)
  })

  test('slots given back can be taken again', async () => {
    const budget = new LocalCallBudget(3)
    expect(await budget.take(3, 0)).toBe(3)
    await budget.giveBack(2)
    expect(await budget.take(5, 1)).toBe(2)
  })

  test('0 is no limit; a pause holds every call until it ends', async () => {
    const budget = new LocalCallBudget(0)
    expect(await budget.take(50, 0)).toBe(50)
    await budget.pauseUntil(5000)
    expect(await budget.take(1, 1000)).toBe(0)
    expect(await budget.nextSlotAt(1000)).toBe(5000)
    expect(await budget.take(1, 5000)).toBe(1)
  })
})

test('with LLM_MAX_RPM=2 a third message waits in the queue instead of calling the LLM', async () => {
  const relay = await startTestRelay({ LLM_MAX_RPM: '2' })
  try {
    const jobs = []
    for (const n of [1, 2, 3]) jobs.push(await relay.send(`rpm ${n}`, { conversation_id: `rpm-${n}` }))
    await relay.sink.waitFor(2)
    const third = jobs.find((j) => relay.sink.forJob(j.id).length === 0)
    expect(third).toBeDefined()
    expect((await relay.job(third?.id as string)).status).toBe('queued')
    expect(relay.llm.calls).toHaveLength(2)
  } finally {
    await relay.close()
  }
})

test('an LLM call slower than LLM_TIMEOUT is retried as llm_timeout', async () => {
  const relay = await startTestRelay({ LLM_TIMEOUT: '200ms' })
  try {
    const held = relay.llm.hold()
    const { id } = await relay.send('too slow at first')
    await held.received
    const [callback] = await relay.sink.waitForJob(id)
    held.release()
    expect(callback?.body.type).toBe('job.completed')
    const job = await relay.waitForStatus(id, 'delivered')
    expect(job.attempts.llm).toBe(2)
  } finally {
    await relay.close()
  }
})

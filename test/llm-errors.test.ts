import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { apiError, completion } from './support/fake-llm.ts'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, TEST_LLM_KEY, type TestRelay } from './support/relay.ts'

// Retries wait on this clock (LLM_RETRY_SCHEDULE is 20ms,20ms,20ms): the tests move it.
const clock = new ManualClock(Date.now())
let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay(
    { LLM_FALLBACK_MODELS: 'backup/one,backup/two', APP_NAME: 'relay-tests' },
    { clock },
  )
})
afterAll(() => relay.close())

/** Moves the clock in the retry schedule's 20 ms steps until the job's callback arrives. */
const callbacksAfterRetries = (id: string) =>
  clock.advanceUntil(
    20,
    () => relay.sink.forJob(id).length > 0 && relay.sink.forJob(id),
    `the callback of job ${id} after its retries`,
  )

async function historyOf(conversation: string): Promise<number> {
  const response = await fetch(`${relay.url}/conversations/${conversation}`)
  if (response.status === 404) return 0
  return ((await response.json()) as { messages: unknown[] }).messages.length
}

describe('LLM calls', () => {
  test('carry the key, OpenRouter attribution and the fallback models', async () => {
    const { id } = await relay.send('headers please', { conversation_id: 'attr' })
    await relay.sink.waitForJob(id)
    const call = relay.llm.calls.find((c) => c.body.messages.at(-1)?.content === 'headers please')
    expect(call?.headers.get('authorization')).toBe(`Bearer ${TEST_LLM_KEY}`)
    expect(call?.headers.get('x-title')).toBe('relay-tests')
    expect(call?.headers.get('http-referer')).toBeString()
    expect(call?.body.model).toBe('fake/model')
    expect(call?.body.models).toEqual(['fake/model', 'backup/one', 'backup/two'])
  })

  test('the model that answered is reported, not the one asked for', async () => {
    relay.llm.next(() => completion('routed', 'meta-llama/some-free-model:free'))
    const { id } = await relay.send('route me', { conversation_id: 'routed' })
    const [callback] = await relay.sink.waitForJob(id)
    expect(callback?.body.data.model).toBe('meta-llama/some-free-model:free')
  })
})

describe('transient LLM errors are retried', () => {
  for (const [name, failure] of [
    ['a 500', () => apiError(500, 'upstream exploded')],
    ['a 503', () => apiError(503, 'overloaded')],
    ['a 408', () => apiError(408, 'request timeout')],
    ['a 429 with Retry-After', () => apiError(429, 'slow down', { 'retry-after': '0' })],
    ['an error inside a 200 body', () => Response.json({ error: { code: 502, message: 'provider error' } })],
    ['a 200 without choices', () => Response.json({ id: 'x', object: 'chat.completion', choices: [] })],
  ] as const) {
    test(`${name}, then success: answered once, two LLM attempts`, async () => {
      relay.llm.next(failure)
      const conversation = `transient-${name.replace(/\W+/g, '-')}`
      const failedAt = clock.now()
      const { id } = await relay.send(`try ${name}`, { conversation_id: conversation })
      const callbacks = await callbacksAfterRetries(id)
      // The second attempt waited for the schedule's 20 ms on the clock.
      expect(clock.now()).toBeGreaterThanOrEqual(failedAt + 20)
      expect(callbacks).toHaveLength(1)
      expect(callbacks[0]?.body.type).toBe('job.completed')
      expect(callbacks[0]?.body.data.response).toBe(`echo: try ${name}`)
      const job = await relay.waitForStatus(id, 'delivered')
      expect(job.attempts.llm).toBe(2)
      expect(job.error).toBeNull()
      expect(await historyOf(conversation)).toBe(2)
    })
  }

  test('retries run out: job.failed with the last error code', async () => {
    relay.llm.next(
      () => apiError(503, 'down'),
      () => apiError(503, 'down'),
      () => apiError(503, 'down'),
      () => apiError(503, 'still down'),
    )
    const startedAt = clock.now()
    const { id } = await relay.send('never works', { conversation_id: 'exhausted' })
    const [callback] = await callbacksAfterRetries(id)
    expect(clock.now()).toBeGreaterThanOrEqual(startedAt + 60)
    expect(callback?.body.type).toBe('job.failed')
    expect(callback?.body.data.response).toBeNull()
    expect(callback?.body.data.error).toEqual({
      code: 'llm_unavailable',
      message: expect.stringContaining('503'),
    })
    const job = await relay.waitForStatus(id, 'delivered')
    expect(job.attempts.llm).toBe(4)
    expect(await historyOf('exhausted')).toBe(0)
  })
})

describe('permanent LLM errors fail at once', () => {
  for (const [status, code] of [
    [400, 'llm_bad_request'],
    [401, 'llm_auth'],
    [402, 'llm_payment_required'],
    [403, 'llm_forbidden'],
    [404, 'llm_model_not_found'],
  ] as const) {
    test(`${status} → job.failed (${code}), nothing joins history`, async () => {
      relay.llm.next(() => apiError(status, `refused with ${status}`))
      const conversation = `permanent-${status}`
      const { id } = await relay.send(`fail with ${status}`, { conversation_id: conversation })
      const [callback] = await relay.sink.waitForJob(id)
      expect(callback?.body.type).toBe('job.failed')
      expect(callback?.body.data.error?.code).toBe(code)
      expect(callback?.body.data.error?.message).toContain(String(status))
      const job = await relay.waitForStatus(id, 'delivered')
      expect(job.attempts.llm).toBe(1)
      expect(job.error?.code).toBe(code)
      expect(await historyOf(conversation)).toBe(0)
    })
  }

  test('a failed message lets the next one of its conversation go, without itself in the history', async () => {
    relay.llm.next(() => apiError(400, 'bad'))
    const failed = await relay.send('I will fail', { conversation_id: 'after-failure' })
    const next = await relay.send('I will work', { conversation_id: 'after-failure' })
    await relay.sink.waitForJob(next.id)
    expect(relay.sink.forJob(failed.id)[0]?.body.type).toBe('job.failed')
    const call = relay.llm.calls.find((c) => c.body.messages.at(-1)?.content === 'I will work')
    expect(call?.body.messages.map((m) => m.content)).not.toContain('I will fail')
  })
})

test('without an LLM key the relay starts and jobs fail with llm_auth', async () => {
  const keyless = await startTestRelay({ LLM_API_KEY: '' })
  try {
    const { id } = await keyless.send('anyone there?')
    const [callback] = await keyless.sink.waitForJob(id)
    expect(callback?.body.type).toBe('job.failed')
    expect(callback?.body.data.error?.code).toBe('llm_auth')
    expect(keyless.llm.calls).toHaveLength(0)
    expect(keyless.logs.join('')).toContain('no LLM_API_KEY')
  } finally {
    await keyless.close()
  }
})

test('a 429 whose quota resets past the retry schedule waits for the reset without burning attempts', async () => {
  const quotaClock = new ManualClock(Date.now())
  const limited = await startTestRelay({ LLM_RETRY_SCHEDULE: '10ms' }, { clock: quotaClock })
  try {
    const resetAt = quotaClock.now() + 400
    limited.llm.next(() => apiError(429, 'daily limit', { 'x-ratelimit-reset': String(resetAt) }))
    const { id } = await limited.send('quota please')
    await limited.llm.waitForCalls(1)
    // Waiting for the reset: queued, the attempt given back.
    const waiting = await limited.waitForStatus(id, 'queued')
    expect(waiting.error?.code).toBe('llm_rate_limited')
    await quotaClock.advanceUntil(100, () => limited.sink.forJob(id).length > 0, 'the call after the reset')
    expect(limited.llm.calls).toHaveLength(2)
    expect(quotaClock.now()).toBeGreaterThanOrEqual(resetAt)
    const job = await limited.waitForStatus(id, 'delivered')
    expect(job.attempts.llm).toBe(1)
    expect(job.response).toBe('echo: quota please')
  } finally {
    await limited.close()
  }
})

test('an answer longer than MAX_RESPONSE_CHARS fails its job with llm_response_too_large, once, and never joins history', async () => {
  const small = await startTestRelay({ MAX_RESPONSE_CHARS: '1000' })
  try {
    const long = 'a very long answer, '.repeat(100)
    small.llm.next(() => completion(long))
    const { id } = await small.send('say a lot', { conversation_id: 'verbose' })
    const [callback] = await small.sink.waitForJob(id)
    expect(callback?.body.type).toBe('job.failed')
    expect(callback?.body.data.response).toBeNull()
    expect(callback?.body.data.error?.code).toBe('llm_response_too_large')
    expect(callback?.body.data.error?.message).toContain(
      '2000 characters, more than MAX_RESPONSE_CHARS (1000)',
    )
    expect(callback?.body.data.error?.message).toEndWith(long.slice(0, 200))
    const job = await small.waitForStatus(id, 'delivered')
    expect(job.attempts.llm).toBe(1)
    expect(job.response).toBeNull()
    expect(small.llm.calls).toHaveLength(1)
    expect((await fetch(`${small.url}/conversations/verbose`)).status).toBe(404)

    const next = await small.send('and now briefly', { conversation_id: 'verbose' })
    await small.sink.waitForJob(next.id)
    const call = small.llm.calls.find((c) => c.body.messages.at(-1)?.content === 'and now briefly')
    expect(call?.body.messages.map((m) => m.content)).toEqual([
      'You are a helpful assistant.',
      'and now briefly',
    ])
  } finally {
    await small.close()
  }
})

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { apiError } from './support/fake-llm.ts'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

const LIMITED = 'limited/model:free'
const OTHER = 'other/model'
const MINUTE = 60_000

let clock: ManualClock
let relay: TestRelay
beforeEach(async () => {
  clock = new ManualClock(Date.now())
  relay = await startTestRelay({ LLM_RETRY_SCHEDULE: '2s,10s,30s', LLM_MAX_PAUSE: '5m' }, { clock })
})
afterEach(() => relay.close())

const callsFor = (message: string) =>
  relay.llm.calls.filter((c) => c.body.messages.at(-1)?.content === message)
const iso = (ms: number) => new Date(ms).toISOString()
const metrics = async () => (await fetch(`${relay.url}/metrics`)).text()
/** A job back in the queue with an error: waiting for its next attempt. */
const waiting = (id: string) =>
  eventually(async () => {
    const view = await relay.job(id)
    return view.status === 'queued' && view.error !== null && view
  }, `job ${id} to wait for its next attempt`)
const answered = (...ids: string[]) => ids.every((id) => relay.sink.forJob(id).length > 0)

describe('a 429 pauses what it limits', () => {
  test('a provider’s 429 pauses its model only: other models go on; the model’s other jobs wait, with no call and no attempt spent', async () => {
    relay.llm.next(() =>
      apiError(429, `${LIMITED} is temporarily rate-limited upstream`, { 'retry-after': '60' }),
    )
    const t0 = clock.now()
    const first = await relay.send('first', { model: LIMITED, conversation_id: 'first' })
    const pauseEnd = `${LIMITED} until ${iso(t0 + MINUTE)}`
    expect((await waiting(first.id)).error).toEqual({
      code: 'llm_rate_limited',
      message: expect.stringContaining(`waiting for the rate-limit pause on ${pauseEnd}`),
    })

    // The clock stands still: another model is answered during the pause.
    const other = await relay.send('another model', { model: OTHER, conversation_id: 'other' })
    await relay.sink.waitForJob(other.id)

    const second = await relay.send('second', { model: LIMITED, conversation_id: 'second' })
    const held = await waiting(second.id)
    expect(held.error).toEqual({
      code: 'llm_rate_limited',
      message: `waiting for the rate-limit pause on ${pauseEnd}`,
    })
    expect(held.attempts.llm).toBe(0)
    expect(callsFor('second')).toHaveLength(0)
    expect(await metrics()).toContain(
      `llm_relay_llm_paused_until_seconds{scope="model",model="${LIMITED}"} ${(t0 + MINUTE) / 1000}`,
    )

    await clock.advanceUntil(10_000, () => answered(first.id, second.id), 'both answered after the pause')
    expect(callsFor('first')).toHaveLength(2)
    expect(callsFor('second')).toHaveLength(1)
    expect((await relay.waitForStatus(first.id, 'delivered')).attempts.llm).toBe(2)
    expect((await relay.waitForStatus(second.id, 'delivered')).attempts.llm).toBe(1)
    expect(await metrics()).not.toContain('llm_relay_llm_paused_until_seconds{')
  })

  test('a Retry-After longer than LLM_MAX_PAUSE holds the call for LLM_MAX_PAUSE, then it is tried again', async () => {
    relay.llm.next(() => apiError(429, 'slow down', { 'retry-after': '3600' }))
    const t0 = clock.now()
    const { id } = await relay.send('an hour?', { conversation_id: 'capped' })
    expect((await waiting(id)).error?.message).toContain(`until ${iso(t0 + 5 * MINUTE)}`)
    await clock.advanceUntil(MINUTE, () => answered(id), 'the retry after the capped pause')
    expect(clock.now() - t0).toBeLessThan(60 * MINUTE)
    expect(callsFor('an hour?')).toHaveLength(2)
  })

  test('OpenRouter’s account limit (its X-RateLimit-* headers) pauses every model, for LLM_MAX_PAUSE at most, without spending attempts', async () => {
    const t0 = clock.now()
    relay.llm.next(() =>
      apiError(429, 'Rate limit exceeded: free-models-per-day', {
        'x-ratelimit-limit': '50',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(t0 + 3 * 60 * MINUTE),
      }),
    )
    const first = await relay.send('quota', { model: LIMITED, conversation_id: 'quota' })
    const held = await waiting(first.id)
    expect(held.error?.message).toContain(
      `waiting for the rate-limit pause on the account until ${iso(t0 + 5 * MINUTE)}`,
    )
    expect(held.attempts.llm).toBe(0)
    expect(await metrics()).toContain(
      `llm_relay_llm_paused_until_seconds{scope="account",model=""} ${(t0 + 5 * MINUTE) / 1000}`,
    )
    const other = await relay.send('another model, same account', { model: OTHER, conversation_id: 'other' })
    expect((await relay.job(other.id)).status).toBe('queued')

    await clock.advanceUntil(MINUTE, () => answered(first.id, other.id), 'both answered after the pause')
    expect(clock.now() - t0).toBeLessThan(60 * MINUTE)
    expect(callsFor('another model, same account')).toHaveLength(1)
    expect((await relay.waitForStatus(first.id, 'delivered')).attempts.llm).toBe(1)
  })

  test('a 429 whose headers say requests remain is the model’s, not the account’s', async () => {
    relay.llm.next(() =>
      apiError(429, 'busy', { 'x-ratelimit-limit': '20', 'x-ratelimit-remaining': '7', 'retry-after': '30' }),
    )
    const first = await relay.send('busy model', { model: LIMITED, conversation_id: 'busy' })
    await waiting(first.id)
    const other = await relay.send('free model', { model: OTHER, conversation_id: 'free' })
    await relay.sink.waitForJob(other.id)
    expect(await metrics()).toContain(`llm_relay_llm_paused_until_seconds{scope="model",model="${LIMITED}"}`)
    await clock.advanceUntil(10_000, () => answered(first.id), 'the retry after the pause')
  })
})

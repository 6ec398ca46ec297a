import { describe, expect, test } from 'bun:test'
import { AnswerWaiters } from '../src/answer/answer-waiters.ts'
import { preferredWait } from '../src/answer/prefer-wait.ts'
import { ManualClock } from './support/manual-clock.ts'

describe('Prefer: wait (RFC 7240)', () => {
  const cases: [string | null, number | undefined][] = [
    [null, undefined],
    ['wait=5', 5],
    ['WAIT = 7', 7],
    ['respond-async, wait=10', 10],
    ['wait="3"', 3],
    ['wait=4; foo=bar', 4],
    ['wait=31', 30],
    ['wait=999999999', 30],
    ['wait=0', undefined],
    ['wait=-1', undefined],
    ['wait=1.5', undefined],
    ['wait', undefined],
    ['return=minimal', undefined],
  ]
  for (const [header, seconds] of cases)
    test(`${JSON.stringify(header)} → ${seconds}`, () => {
      expect(preferredWait(header)).toBe(seconds)
    })
})

describe('AnswerWaiters', () => {
  test('a waiter learns of the answer at once, and one that times out gets false', async () => {
    const clock = new ManualClock()
    const waiters = new AnswerWaiters(clock)
    const first = waiters.wait('a', 5000)
    const twice = waiters.wait('a', 5000)
    const other = waiters.wait('b', 1000)
    expect(waiters.waiting).toBe(3)
    waiters.settled('a')
    expect(await first).toBe(true)
    expect(await twice).toBe(true)
    await clock.advance(1000)
    expect(await other).toBe(false)
    expect(waiters.waiting).toBe(0)
    expect(clock.timers).toBe(0)
  })

  test('a job settled before anyone waits does not wake a later waiter', async () => {
    const clock = new ManualClock()
    const waiters = new AnswerWaiters(clock)
    waiters.settled('a')
    const late = waiters.wait('a', 100)
    await clock.advance(100)
    expect(await late).toBe(false)
  })

  test('in a fleet, one timer asks the store for every waited job in one call, and stops when none waits', async () => {
    const clock = new ManualClock()
    const asked: string[][] = []
    let answered: string[] = []
    const waiters = new AnswerWaiters(clock, {
      intervalMs: 500,
      check: async (jobs) => {
        asked.push([...jobs])
        return answered
      },
    })
    const a = waiters.wait('a', 10_000)
    const b = waiters.wait('b', 10_000)
    await clock.advance(500)
    expect(asked).toEqual([['a', 'b']])
    answered = ['b']
    await clock.advance(500)
    expect(await b).toBe(true)
    answered = []
    await clock.advance(500)
    expect(asked.at(-1)).toEqual(['a'])
    waiters.settled('a')
    expect(await a).toBe(true)
    expect(clock.timers).toBe(0)
  })

  test('a store that fails the check leaves the waiters to time out', async () => {
    const clock = new ManualClock()
    const waiters = new AnswerWaiters(clock, {
      intervalMs: 100,
      check: async () => {
        throw new Error('database is away')
      },
    })
    const a = waiters.wait('a', 1000)
    await clock.advance(1000)
    expect(await a).toBe(false)
  })

  test('releaseAll answers every waiter with false, and any that comes after it at once', async () => {
    const clock = new ManualClock()
    const waiters = new AnswerWaiters(clock, { intervalMs: 100, check: async () => [] })
    const a = waiters.wait('a', 10_000)
    waiters.releaseAll()
    expect(await a).toBe(false)
    expect(await waiters.wait('b', 10_000)).toBe(false)
    expect(waiters.waiting).toBe(0)
    expect(clock.timers).toBe(0)
  })

  test('a waiter whose client went away (its signal aborts) leaves at once, timer, listener and poll with it', async () => {
    const clock = new ManualClock()
    const waiters = new AnswerWaiters(clock, { intervalMs: 100, check: async () => [] })
    const client = new AbortController()
    const gone = waiters.wait('a', 10_000, client.signal)
    const stays = waiters.wait('a', 10_000)
    expect(clock.timers).toBe(3)
    client.abort()
    expect(await gone).toBe(false)
    expect(waiters.waiting).toBe(1)
    waiters.settled('a')
    expect(await stays).toBe(true)
    expect(clock.timers).toBe(0)
    // Aborted before it waits: nothing is kept at all.
    expect(await waiters.wait('b', 10_000, client.signal)).toBe(false)
    expect(clock.timers).toBe(0)
  })
})

import { afterEach, expect, test } from 'bun:test'
import { ConfigError, parseConfig } from '../src/config/config.ts'
import { startMemorySoftLimit } from '../src/memory-limit.ts'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

/*
 * MEMORY_SOFT_LIMIT: above it the relay collects its garbage at once, at most once a second;
 * below it, or without a limit, never. The resident memory is read every 100 ms, on the clock.
 */

const MB = 1024 * 1024

function limited(limitMb: number) {
  const clock = new ManualClock()
  let rssMb = 100
  const collected: number[] = []
  const timer = startMemorySoftLimit({
    limitBytes: limitMb * MB,
    clock,
    rss: () => rssMb * MB,
    collect: () => collected.push(clock.now()),
  })
  return { clock, collected, timer, setRss: (mb: number) => (rssMb = mb) }
}

test('below the limit nothing is collected; above it at once, then at most once a second', async () => {
  const { clock, collected, timer, setRss } = limited(230)
  await clock.advance(5_000)
  expect(collected).toEqual([])
  const above = clock.now()
  setRss(260)
  await clock.advance(100)
  expect(collected).toEqual([above + 100])
  // Still above (memory the process holds): one collection a second, not one a check.
  await clock.advance(2_000)
  expect(collected).toEqual([above + 100, above + 1_100, above + 2_100])
  setRss(200)
  await clock.advance(5_000)
  expect(collected).toHaveLength(3)
  timer.cancel()
  setRss(900)
  await clock.advance(5_000)
  expect(collected).toHaveLength(3)
})

test('MEMORY_SOFT_LIMIT reads 0 (none), MB and GB; anything else is refused by name', () => {
  expect(parseConfig({}).memorySoftLimit).toBe(0)
  expect(parseConfig({ MEMORY_SOFT_LIMIT: '230MB' }).memorySoftLimit).toBe(230 * MB)
  expect(parseConfig({ MEMORY_SOFT_LIMIT: '2gb' }).memorySoftLimit).toBe(2 * 1024 * MB)
  for (const bad of ['230', '10MB', 'lots', '-1MB'])
    expect(() => parseConfig({ MEMORY_SOFT_LIMIT: bad })).toThrow(ConfigError)
  expect(() => parseConfig({ MEMORY_SOFT_LIMIT: '10MB' })).toThrow(/MEMORY_SOFT_LIMIT/)
})

let relay: TestRelay | undefined
afterEach(async () => {
  await relay?.close()
  relay = undefined
})

test('a relay over its limit collects and counts it on /metrics; without a limit the counter is absent', async () => {
  // Any running relay holds more than 64 MB: over this limit from the start.
  relay = await startTestRelay({ MEMORY_SOFT_LIMIT: '64MB' })
  const url = relay.url
  await eventually(async () => {
    const text = await (await fetch(`${url}/metrics`)).text()
    const count = /^llm_relay_memory_collections_total (\d+)$/m.exec(text)?.[1]
    return count !== undefined && Number(count) >= 1
  }, 'a collection counted on /metrics')
  await relay.close()
  relay = await startTestRelay()
  const text = await (await fetch(`${relay.url}/metrics`)).text()
  expect(text).not.toMatch(/^llm_relay_memory_collections_total \d+$/m)
})

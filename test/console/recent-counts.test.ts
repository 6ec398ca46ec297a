import { expect, test } from 'bun:test'
import { RecentCounts } from '../../src/console/recent-counts.ts'
import { RelayMetrics } from '../../src/metrics.ts'
import { ManualClock } from '../support/manual-clock.ts'

const MINUTE = 60_000

test('the last hour counts what the counters gained in it, sampled each minute', async () => {
  const clock = new ManualClock()
  const metrics = new RelayMetrics()
  const recent = new RecentCounts(metrics, clock)
  recent.start()
  const started = clock.now()
  metrics.jobsAccepted.inc()
  metrics.jobsFinished.inc({ status: 'dead', type: 'completed' })
  metrics.llmErrors.inc({ code: 'llm_auth', model: 'a' })
  metrics.llmErrors.inc({ code: 'llm_auth', model: 'b' })
  // Younger than an hour: everything since the start counts, and says since when.
  expect(recent.read()).toMatchObject({ since: started, accepted: 1, dead: 1 })
  expect(recent.read().llmErrors).toEqual(new Map([['llm_auth', 2]]))

  await clock.advance(61 * MINUTE)
  metrics.jobsAccepted.inc({}, 5)
  metrics.jobsFinished.inc({ status: 'delivered', type: 'completed' }, 4)
  metrics.deliveryAttempts.inc({ outcome: 'retry' }, 3)
  const hour = recent.read()
  // The early accepted job, dead job and LLM errors fell out of the window; the new ones are in it.
  expect(hour).toMatchObject({ accepted: 5, delivered: 4, retries: 3, dead: 0 })
  expect(hour.llmErrors.size).toBe(0)
  expect(hour.since).toBeGreaterThanOrEqual(clock.now() - 60 * MINUTE)
  expect(hour.since).toBeLessThanOrEqual(clock.now() - 59 * MINUTE)

  recent.stop()
  expect(clock.timers).toBe(0)
})

test('a counter total matches on labels, and groups by one label', () => {
  const metrics = new RelayMetrics()
  metrics.jobsFinished.inc({ status: 'delivered', type: 'completed' }, 2)
  metrics.jobsFinished.inc({ status: 'delivered', type: 'failed' })
  metrics.jobsFinished.inc({ status: 'dead', type: 'completed' })
  expect(metrics.jobsFinished.total()).toBe(4)
  expect(metrics.jobsFinished.total({ status: 'delivered' })).toBe(3)
  expect(metrics.jobsFinished.total({ status: 'delivered', type: 'failed' })).toBe(1)
  expect(metrics.jobsFinished.totalsBy('status')).toEqual(
    new Map([
      ['delivered', 3],
      ['dead', 1],
    ]),
  )
})

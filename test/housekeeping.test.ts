import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createLogger } from '../src/log.ts'
import { SqliteStore } from '../src/store/sqlite.ts'
import { nextHousekeepingAt, scheduleHousekeeping } from '../src/worker/housekeeping.ts'
import { ManualClock } from './support/manual-clock.ts'

const dir = mkdtempSync(join(tmpdir(), 'llm-relay-housekeeping-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

test('the next run is at minute 17 of an hour', () => {
  const at = (iso: string) => Date.parse(iso)
  expect(nextHousekeepingAt(at('2026-01-01T10:05:00Z'))).toBe(at('2026-01-01T10:17:00Z'))
  expect(nextHousekeepingAt(at('2026-01-01T10:17:00Z'))).toBe(at('2026-01-01T11:17:00Z'))
  expect(nextHousekeepingAt(at('2026-01-01T23:59:59Z'))).toBe(at('2026-01-02T00:17:00Z'))
})

test('housekeeping runs hourly on the clock until cancelled', async () => {
  const clock = new ManualClock(Date.parse('2026-01-01T10:05:00Z'))
  const store = new SqliteStore(join(dir, 'relay.db'))
  const lines: string[] = []
  const logger = createLogger(
    'info',
    new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk))
        done()
      },
    }),
  )
  const runs = () => lines.filter((l) => l.includes('housekeeping done')).length
  const timer = scheduleHousekeeping({
    store,
    logger,
    clock,
    retentionMs: 86_400_000,
    historyRetentionMs: undefined,
  })
  try {
    await clock.advance(11 * 60_000)
    expect(runs()).toBe(0)
    await clock.advanceUntil(60_000, () => runs() === 1, 'the run at 10:17')
    expect(clock.now()).toBeGreaterThanOrEqual(Date.parse('2026-01-01T10:17:00Z'))
    await clock.advanceUntil(60_000, () => runs() === 2, 'the run at 11:17')
    expect(clock.now()).toBeGreaterThanOrEqual(Date.parse('2026-01-01T11:17:00Z'))
    timer.cancel()
    await clock.advance(3 * 3_600_000)
    expect(runs()).toBe(2)
    expect(clock.timers).toBe(0)
  } finally {
    timer.cancel()
    await store.close()
  }
})

import { afterEach, expect, test } from 'bun:test'
import { ClientService } from '../src/clients/client-service.ts'
import { DataEncryption } from '../src/data-encryption.ts'
import { completion } from './support/fake-llm.ts'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

// The clients' own LLM limits; quota waits run on this clock (the tests move it).
const LEGACY = 'legacy-key-0123456789abcdef'
let relay: TestRelay | undefined
afterEach(async () => {
  await relay?.close()
  relay = undefined
})

async function setUp(clock: ManualClock, settings: { llmRpm?: number; dailyTokenBudget?: number }) {
  relay = await startTestRelay({ API_KEYS: `legacy:${LEGACY}`, LLM_MAX_RPM: '0' }, { clock })
  const service = new ClientService({
    clients: relay.store.clients,
    encryption: new DataEncryption([]),
    clock,
    newId: () => crypto.randomUUID(),
    secretGraceMs: 0,
    onChange: () => {},
  })
  const created = await service.create({ name: 'quota-client', ...settings })
  if (created === 'name_taken') throw new Error('name taken')
  return { relay, key: created.apiKey }
}

const jobOf = async (r: TestRelay, key: string, id: string) =>
  (await (await fetch(`${r.url}/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
    status: string
    error: { code: string } | null
    attempts: { llm: number }
  }

async function send(r: TestRelay, key: string, message: string): Promise<string> {
  const response = await r.post(
    { message, callback_url: `${r.sink.url}/hook`, conversation_id: message },
    { authorization: `Bearer ${key}` },
  )
  expect(response.status).toBe(202)
  return ((await response.json()) as { id: string }).id
}

test('daily_token_budget: over it, the client’s jobs wait for the next UTC day without spending attempts', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 23, 50))
  const { relay: r, key } = await setUp(clock, { dailyTokenBudget: 20 })
  // Every answer uses 15 tokens.
  const delivered = async (id: string) =>
    clock.advanceUntil(20, async () => (await jobOf(r, key, id)).status === 'delivered', `${id} delivered`)
  await delivered(await send(r, key, 'first'))
  await clock.advance(3000)
  await delivered(await send(r, key, 'second'))
  await clock.advance(3000)
  const third = await send(r, key, 'third')
  const waiting = await clock.advanceUntil(
    20,
    async () => {
      const job = await jobOf(r, key, third)
      return job.error?.code === 'client_daily_tokens' && job
    },
    'the third to wait',
  )
  expect(waiting).toMatchObject({ status: 'queued', attempts: { llm: 0 } })
  expect(r.llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'third')).toHaveLength(0)
  // Another client is not held back.
  const other = await r.post(
    { message: 'legacy', callback_url: `${r.sink.url}/hook`, conversation_id: 'legacy' },
    { authorization: `Bearer ${LEGACY}` },
  )
  expect(other.status).toBe(202)
  await eventually(
    async () => r.llm.calls.some((c) => c.body.messages.at(-1)?.content === 'legacy'),
    'legacy called',
  )
  const metrics = await (
    await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${LEGACY}` } })
  ).text()
  expect(metrics).toMatch(/llm_relay_client_quota_waits_total\{reason="daily_tokens"\} [1-9]/)

  // Midnight UTC: the budget is new, the job goes on, its attempts as if it had not waited.
  await clock.advanceUntil(
    60_000,
    async () => (await jobOf(r, key, third)).status === 'delivered',
    'the next day',
  )
  expect((await jobOf(r, key, third)).attempts.llm).toBe(1)
  const byDay = (await (
    await fetch(`${r.url}/usage?from=2026-01-01&to=2026-01-02&group_by=day`, {
      headers: { authorization: `Bearer ${key}` },
    })
  ).json()) as { usage: { key: string; jobs: number; total_tokens: number }[] }
  expect(byDay.usage.map((l) => [l.key, l.jobs, l.total_tokens])).toEqual([
    ['2026-01-01', 2, 30],
    ['2026-01-02', 1, 15],
  ])
  // A client key reads only its own: the legacy key's job is not in its report.
  const byClient = (await (
    await fetch(`${r.url}/usage?from=2026-01-01&to=2026-01-02`, {
      headers: { authorization: `Bearer ${key}` },
    })
  ).json()) as { usage: { key: string; client_id: string | null }[] }
  expect(byClient.usage.map((l) => l.key)).toEqual(['quota-client'])
  expect(byClient.usage[0]?.client_id).toBeString()
  const bad = await fetch(`${r.url}/usage?from=2026-02-01&to=2026-01-01`, {
    headers: { authorization: `Bearer ${key}` },
  })
  expect(bad.status).toBe(422)
}, 20_000)

test('llm_rpm: past it, the client’s next job waits for a minute’s call to free, no attempt spent', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12))
  const { relay: r, key } = await setUp(clock, { llmRpm: 2 })
  r.llm.next(
    () => completion('one'),
    () => completion('two'),
  )
  const ids = [await send(r, key, 'r1'), await send(r, key, 'r2'), await send(r, key, 'r3')]
  const held = await clock.advanceUntil(
    20,
    async () => {
      const jobs = await Promise.all(ids.map((id) => jobOf(r, key, id)))
      return jobs.filter((j) => j.error?.code === 'client_llm_rpm').length === 1 && jobs
    },
    'one job to wait',
  )
  expect(held.filter((j) => j.status === 'delivered' || j.status === 'delivering')).toHaveLength(2)
  expect(held.find((j) => j.error?.code === 'client_llm_rpm')?.attempts.llm).toBe(0)
  await clock.advanceUntil(
    1000,
    async () =>
      (await Promise.all(ids.map((id) => jobOf(r, key, id)))).every((j) => j.status === 'delivered'),
    'all delivered after a minute',
  )
  expect(r.llm.calls).toHaveLength(3)
}, 20_000)

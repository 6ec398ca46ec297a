import { afterAll, beforeAll, expect } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CallbackSink } from './support/callback-sink.ts'
import { FakeLlm } from './support/fake-llm.ts'
import { databaseUrl, dropSchema, freshSchema, postgres, testIf } from './support/postgres.ts'
import { type RelayProcess, spawnRelay } from './support/process.ts'
import { testEnv } from './support/relay.ts'

// Several relay processes on one PostgreSQL schema: the multi-instance deployment, for real.
// Without a PostgreSQL to test against, one line says what to start instead.
const test = testIf(postgres, 'relay fleets on PostgreSQL')
let dir: string
let llm: FakeLlm
let sink: CallbackSink
const schemas: string[] = []
const processes: RelayProcess[] = []

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'llm-relay-fleet-'))
  llm = new FakeLlm()
  sink = new CallbackSink()
})
afterAll(async () => {
  for (const p of processes) p.process.kill('SIGKILL')
  await Promise.all(processes.map((p) => p.process.exited))
  llm.stop()
  sink.stop()
  await Promise.all(schemas.map(dropSchema))
  rmSync(dir, { recursive: true, force: true })
})

async function fleet(count: number, extra: Record<string, string>[]): Promise<RelayProcess[]> {
  const schema = freshSchema('relay_fleet')
  schemas.push(schema)
  const started: RelayProcess[] = []
  for (let i = 0; i < count; i++) {
    const env = testEnv(dir, llm, {
      DATABASE_URL: databaseUrl(schema),
      DATABASE_POOL_MAX: '4',
      LOG_LEVEL: 'info',
      ...(extra[i] ?? {}),
    })
    const relay = await spawnRelay(env, dir)
    processes.push(relay)
    started.push(relay)
  }
  return started
}

async function accept(url: string, message: string, conversation: string): Promise<string> {
  const response = await fetch(`${url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, callback_url: `${sink.url}/hook`, conversation_id: conversation }),
  })
  if (response.status !== 202) throw new Error(`${response.status} ${await response.text()}`)
  return ((await response.json()) as { id: string }).id
}

test('three instances, 1000 jobs in 100 conversations, one killed mid-run: each answered once, in order', async () => {
  // A lease short enough that the killed instance's jobs come back soon, long enough that a
  // live instance's renewals (every third of it) never lapse on a loaded 2-core CI machine.
  // The one to be killed logs each job it claims, to tell whose jobs were asked twice.
  const relays = await fleet(3, [
    { JOB_LEASE: '3s' },
    { JOB_LEASE: '3s', LOG_LEVEL: 'debug' },
    { JOB_LEASE: '3s' },
  ])
  llm.latencyMs = 60
  const CONVERSATIONS = 100
  const MESSAGES = 10
  const ids = new Map<string, string[]>()
  // Each conversation's messages go to the instances in turn, one after the other, so
  // acceptance order is known; conversations are sent side by side.
  await Promise.all(
    Array.from({ length: CONVERSATIONS }, async (_, c) => {
      const conversation = `fleet-${c}`
      const list: string[] = []
      ids.set(conversation, list)
      for (let m = 1; m <= MESSAGES; m++) {
        const relay = relays[(c + m) % relays.length] as RelayProcess
        list.push(await accept(relay.url, `${conversation} m${m}`, conversation))
      }
    }),
  )
  const all = [...ids.values()].flat()
  expect(new Set(all).size).toBe(CONVERSATIONS * MESSAGES)

  await sink.waitFor(250, 30_000)
  const victim = relays[1] as RelayProcess
  victim.process.kill('SIGKILL')
  await victim.process.exited
  const survivor = relays[0] as RelayProcess

  await sink.signal.until(
    () => all.every((id) => sink.forJob(id).length > 0),
    'a callback for every job',
    60_000,
  )
  llm.latencyMs = 0

  for (const [conversation, jobIds] of ids) {
    // History: each job answered exactly once, in acceptance order.
    const history = (await (await fetch(`${survivor.url}/conversations/${conversation}`)).json()) as {
      messages: { role: string; content: string; job_id: string }[]
    }
    expect(history.messages.map((m) => m.job_id)).toEqual(jobIds.flatMap((id) => [id, id]))
    expect(history.messages.map((m) => m.role)).toEqual(jobIds.flatMap(() => ['user', 'assistant']))
    // Callbacks carry the conversation's sequence.
    jobIds.forEach((id, i) => {
      for (const callback of sink.forJob(id)) {
        expect(callback.body.data.sequence).toBe(i + 1)
        expect(callback.body.data.response).toBe(`echo: ${conversation} m${i + 1}`)
      }
    })
  }
  // Every LLM call, including one repeated after the kill, saw exactly the messages before it.
  for (const call of llm.calls) {
    const last = call.body.messages.at(-1)?.content ?? ''
    const match = /^(fleet-\d+) m(\d+)$/.exec(last)
    if (!match) continue
    const k = Number(match[2])
    const expected = ['You are a helpful assistant.']
    for (let j = 1; j < k; j++) expected.push(`${match[1]} m${j}`, `echo: ${match[1]} m${j}`)
    expected.push(last)
    expect(call.body.messages.map((m) => m.content)).toEqual(expected)
  }
  // Only jobs the killed instance had in hand may have been asked twice: claimed by it, their
  // answers not committed (it logs a job answered once the answer is committed; a line lost in
  // the kill only widens the set).
  const victimLog = (msg: string) =>
    new Set(
      victim
        .output()
        .split('\n')
        .filter((line) => line.includes(`"msg":"${msg}`))
        .map((line) => (JSON.parse(line) as { job_id: string }).job_id),
    )
  const claimed = victimLog('job claimed')
  const answered = victimLog('job answered')
  const inHand = [...claimed].filter((id) => !answered.has(id))
  const asked = new Map<string, number>()
  for (const call of llm.calls) {
    const match = /^(fleet-\d+) m(\d+)$/.exec(call.body.messages.at(-1)?.content ?? '')
    if (!match) continue
    const id = ids.get(match[1] as string)?.[Number(match[2]) - 1] as string
    asked.set(id, (asked.get(id) ?? 0) + 1)
  }
  expect(asked.size).toBe(CONVERSATIONS * MESSAGES)
  expect(answered.size).toBeGreaterThan(0)
  const twice = [...asked].filter(([, n]) => n > 1)
  expect(twice.filter(([id, n]) => n > 2 || !inHand.includes(id))).toEqual([])
}, 120_000)

test('RELAY_ROLE: an api instance only accepts; a worker instance, woken by NOTIFY, answers at once', async () => {
  const [api, worker] = await fleet(2, [{ RELAY_ROLE: 'api' }, { RELAY_ROLE: 'worker' }])
  if (!api || !worker) throw new Error('fleet did not start')
  // The worker serves operations only.
  expect((await fetch(`${worker.url}/health`)).status).toBe(200)
  expect((await fetch(`${worker.url}/metrics`)).status).toBe(200)
  expect((await fetch(`${worker.url}/webhook`, { method: 'POST' })).status).toBe(404)
  const id = await accept(api.url, 'roles please', 'roles')
  // The wait gives up long before the worker's 30 s fallback timer: only NOTIFY can wake it in time.
  const [callback] = await sink.waitForJob(id, 1, 10_000)
  expect(callback?.body.data.response).toBe('echo: roles please')
  const job = (await (await fetch(`${api.url}/jobs/${id}`)).json()) as { status: string }
  expect(['delivering', 'delivered']).toContain(job.status)
}, 30_000)

test('an instance killed mid-call: another takes its job within seconds of the kill, not after JOB_LEASE', async () => {
  // A lease far longer than the wait below: only the heartbeat recovery can free the job in time.
  const [first] = await fleet(1, [{ JOB_LEASE: '2m' }])
  if (!first) throw new Error('fleet did not start')
  const held = llm.hold()
  const id = await accept(first.url, 'outlive your instance', 'recovery')
  await held.received
  const env = testEnv(dir, llm, {
    DATABASE_URL: databaseUrl(schemas.at(-1) as string),
    DATABASE_POOL_MAX: '4',
    LOG_LEVEL: 'info',
    JOB_LEASE: '2m',
  })
  const second = await spawnRelay(env, dir)
  processes.push(second)
  first.process.kill('SIGKILL')
  await first.process.exited
  held.release()

  // Silent for 8 s, noticed at the next 2 s heartbeat: well within 25 s, and two minutes early.
  const [callback] = await sink.waitForJob(id, 1, 25_000)
  expect(callback?.body.data.response).toBe('echo: outlive your instance')
  await second.waitForOutput('released the leases of a worker that died')
  expect(llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'outlive your instance')).toHaveLength(2)
  const history = (await (await fetch(`${second.url}/conversations/recovery`)).json()) as {
    messages: { role: string }[]
  }
  expect(history.messages.map((m) => m.role)).toEqual(['user', 'assistant'])
}, 60_000)

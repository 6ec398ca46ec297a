import { afterAll, expect } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SQL } from 'bun'
import { CallbackSink } from './support/callback-sink.ts'
import { FakeLlm } from './support/fake-llm.ts'
import { databaseUrl, dropSchema, freshSchema, POSTGRES_URL, postgres, testIf } from './support/postgres.ts'
import { type RelayProcess, spawnRelay } from './support/process.ts'
import { testEnv } from './support/relay.ts'
import { eventually } from './support/signal.ts'

// Two relay processes on one PostgreSQL schema: a cancel sent to one stops the LLM call the
// other is making. Without a PostgreSQL to test against, one line says what to start instead.
const test = testIf(postgres, 'cancelling across a relay fleet on PostgreSQL')

const dir = mkdtempSync(join(tmpdir(), 'llm-relay-fleet-cancel-'))
const llm = new FakeLlm()
const sink = new CallbackSink()
const schema = freshSchema('relay_fleet_cancel')
const processes: RelayProcess[] = []
afterAll(async () => {
  for (const p of processes) p.process.kill('SIGKILL')
  await Promise.all(processes.map((p) => p.process.exited))
  llm.stop()
  sink.stop()
  if (postgres.available) await dropSchema(schema)
  rmSync(dir, { recursive: true, force: true })
})

test('a cancel on one instance aborts the LLM call running on the other within about a second', async () => {
  // A lease renewed every 40 s: only the check a running call makes every second can be in time.
  const env = testEnv(dir, llm, {
    DATABASE_URL: databaseUrl(schema),
    DATABASE_POOL_MAX: '4',
    LOG_LEVEL: 'info',
    JOB_LEASE: '2m',
  })
  for (let i = 0; i < 2; i++) processes.push(await spawnRelay(env, dir))
  const post = async (url: string, message: string) => {
    const response = await fetch(`${url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message, callback_url: `${sink.url}/hook`, conversation_id: 'across' }),
    })
    expect(response.status).toBe(202)
    return ((await response.json()) as { id: string }).id
  }
  const [first] = processes
  if (!first) throw new Error('fleet did not start')

  const held = llm.hold()
  const slow = await post(first.url, 'slow')
  const after = await post(first.url, 'after')
  await held.received
  const call = llm.calls.find((c) => c.body.messages.at(-1)?.content === 'slow')
  if (!call) throw new Error('the slow call never reached the LLM')

  // Whichever instance claimed it, the cancel goes to the other one.
  const sql = new SQL(POSTGRES_URL, { max: 1, connection: { search_path: schema } })
  const [row] = await sql<{ lease_owner: string }[]>`SELECT lease_owner FROM jobs WHERE id = ${slow}`
  await sql.close()
  const holder = processes.find((p) => row?.lease_owner.startsWith(`${p.process.pid}-`))
  const other = processes.find((p) => p !== holder)
  if (!holder || !other) throw new Error(`no instance holds ${slow} (${row?.lease_owner})`)

  const response = await fetch(`${other.url}/jobs/${slow}/cancel`, { method: 'POST' })
  expect(response.status).toBe(200)
  expect(((await response.json()) as { status: string }).status).toBe('cancelled')
  await llm.waitForAbort(call, 8000)
  await holder.waitForOutput('LLM call stopped')

  // The conversation's next message goes on; nothing of the cancelled one is kept or sent.
  const [callback] = await sink.waitForJob(after, 1, 15_000)
  expect(callback?.body.data).toMatchObject({ response: 'echo: after', sequence: 2 })
  held.release()
  const view = await eventually(async () => {
    const job = (await (await fetch(`${holder.url}/jobs/${slow}`)).json()) as { status: string }
    return job.status === 'cancelled' && job
  }, 'the job to read as cancelled on the instance that held it')
  expect(view.status).toBe('cancelled')
  const history = (await (await fetch(`${holder.url}/conversations/across`)).json()) as {
    messages: { job_id: string }[]
  }
  expect(history.messages.map((m) => m.job_id)).toEqual([after, after])
  expect(sink.forJob(slow)).toEqual([])
  expect(llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'slow')).toHaveLength(1)
}, 60_000)

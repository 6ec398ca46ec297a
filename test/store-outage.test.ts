import { afterAll, beforeAll, expect, test } from 'bun:test'
import { ManualClock } from './support/manual-clock.ts'
import { PostgresServer } from './support/postgres-server.ts'
import { startTestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

// A PostgreSQL of this file's own, stopped and started under a running relay.
let pg: PostgresServer
beforeAll(async () => {
  pg = await PostgresServer.start()
}, 60_000)
afterAll(() => pg.remove())

const LEASE_MS = 30_000

test('an answer that cannot be stored while PostgreSQL is down is kept, past its lease, and stored once it is back: the LLM is asked once', async () => {
  const clock = new ManualClock(Date.now())
  const relay = await startTestRelay({ DATABASE_URL: pg.url, JOB_LEASE: `${LEASE_MS}ms` }, { clock })
  let down = false
  try {
    const held = relay.llm.hold()
    const { id } = await relay.send('keep my answer', { conversation_id: 'outage' })
    await held.received
    await pg.stop()
    down = true
    held.release()
    await eventually(
      async () => relay.logs.some((l) => l.includes('the answer could not be stored; kept, trying again')),
      'the failed write of the answer',
    )
    // Three leases pass while the database is away: once it is back, the job is claimable again.
    await clock.advance(3 * LEASE_MS)
    await pg.restart()
    down = false

    const [callback] = await clock.advanceUntil(
      1000,
      () => relay.sink.forJob(id).length > 0 && relay.sink.forJob(id),
      'the answer, stored and delivered once the database is back',
      30_000,
    )
    expect(callback?.body.data.response).toBe('echo: keep my answer')
    expect(relay.llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'keep my answer')).toHaveLength(
      1,
    )
    const job = await relay.waitForStatus(id, 'delivered')
    expect(job.attempts.llm).toBe(1)
    expect(job.response).toBe('echo: keep my answer')
    const history = (await (await fetch(`${relay.url}/conversations/outage`)).json()) as {
      messages: { role: string; content: string }[]
    }
    expect(history.messages.map((m) => `${m.role}:${m.content}`)).toEqual([
      'user:keep my answer',
      'assistant:echo: keep my answer',
    ])
    expect(relay.logs.some((l) => l.includes('the answer stored after the store came back'))).toBe(true)
  } finally {
    if (down) await pg.restart()
    await relay.close()
  }
}, 60_000)

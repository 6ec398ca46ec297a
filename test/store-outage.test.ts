import { afterAll, beforeAll, expect, test } from 'bun:test'
import { chmodSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ManualClock } from './support/manual-clock.ts'
import { openOutsideWorld } from './support/outside-world.ts'
import { postgresServerBinaries, testIf } from './support/postgres.ts'
import { PostgresServer } from './support/postgres-server.ts'
import { spawnRelay } from './support/process.ts'
import { startTestRelay, testEnv } from './support/relay.ts'
import { eventually } from './support/signal.ts'

// A PostgreSQL of this file's own, stopped and started under a running relay; without the server
// binaries, one line says what to install instead.
const withPostgres = testIf(postgresServerBinaries, 'an answer kept through a PostgreSQL outage')
let pg: PostgresServer | undefined
beforeAll(async () => {
  if (postgresServerBinaries.available) pg = await PostgresServer.start()
}, 60_000)
afterAll(() => pg?.remove())

// prlimit (util-linux) sets the file-size limit of the running relay.
const withPrlimit = Bun.which('prlimit') === null ? test.skip : test

const LEASE_MS = 30_000

/** The answer's write failed: kept and retried, or (before this was fixed) the pipeline given up. */
const failedWrite = (log: string) =>
  log.includes('the answer could not be stored; kept, trying again') || log.includes('job pipeline failed')

withPostgres(
  'an answer that cannot be stored while PostgreSQL is down is kept, past its lease, and stored once it is back: the LLM is asked once',
  async () => {
    const clock = new ManualClock(Date.now())
    if (!pg) throw new Error('the test’s PostgreSQL did not start')
    const server = pg
    const relay = await startTestRelay({ DATABASE_URL: server.url, JOB_LEASE: `${LEASE_MS}ms` }, { clock })
    let down = false
    try {
      const held = relay.llm.hold()
      const { id } = await relay.send('keep my answer', { conversation_id: 'outage' })
      await held.received
      await server.stop()
      down = true
      held.release()
      await eventually(async () => relay.logs.some(failedWrite), 'the failed write of the answer')
      // Three leases pass while the database is away: once it is back, the job is claimable again.
      await clock.advance(3 * LEASE_MS)
      await server.restart()
      down = false

      const [callback] = await clock.advanceUntil(
        1000,
        () => relay.sink.forJob(id).length > 0 && relay.sink.forJob(id),
        'the answer, stored and delivered once the database is back',
        30_000,
      )
      expect(callback?.body.data.response).toBe('echo: keep my answer')
      expect(
        relay.llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'keep my answer'),
      ).toHaveLength(1)
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
      if (down) await server.restart()
      await relay.close()
    }
  },
  60_000,
)

withPrlimit(
  'an answer that cannot be stored while SQLite’s disk is full is kept, past its lease, and stored once there is room: the LLM is asked once',
  async () => {
    const { dir, llm, sink, close } = openOutsideWorld('disk-full')
    // A file-size limit (RLIMIT_FSIZE) on the relay's process is its disk filling up: writes that
    // grow a file fail. SIGXFSZ is ignored so that they fail instead of killing the process.
    const relayScript = join(dir, 'relay.sh')
    writeFileSync(
      relayScript,
      `#!/bin/sh\ntrap '' XFSZ\nexec "${process.execPath}" "${join(import.meta.dir, '..', 'src', 'main.ts')}"\n`,
    )
    chmodSync(relayScript, 0o755)
    const relay = await spawnRelay(
      testEnv(dir, llm, { JOB_LEASE: '1s', LOG_LEVEL: 'info' }),
      dir,
      relayScript,
    )
    const fileSizeLimit = (limit: number | 'unlimited') =>
      Bun.$`prlimit --pid ${relay.process.pid} --fsize=${limit}:unlimited`.quiet()
    try {
      const held = llm.hold()
      const response = await fetch(`${relay.url}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          message: 'no room',
          callback_url: `${sink.url}/hook`,
          conversation_id: 'full',
        }),
      })
      const { id } = (await response.json()) as { id: string }
      await held.received
      const sizes = ['relay.db', 'relay.db-wal'].map(
        (name) => statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0,
      )
      await fileSizeLimit(Math.max(...sizes))
      held.release()
      await eventually(async () => failedWrite(relay.output()), 'the failed write of the answer')
      // The disk stays full for longer than the lease: renewals fail every third of it.
      await eventually(
        async () => relay.output().split('lease renewal failed').length > 4,
        'the lease to run out while the disk is full',
      )
      await fileSizeLimit('unlimited')

      const [callback] = await sink.waitForJob(id)
      expect(callback?.body.data.response).toBe('echo: no room')
      expect(llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'no room')).toHaveLength(1)
      await relay.waitForOutput('the answer stored after the store came back')
      const job = await eventually(async () => {
        const view = (await (await fetch(`${relay.url}/jobs/${id}`)).json()) as {
          status: string
          attempts: { llm: number }
        }
        return view.status === 'delivered' && view
      }, 'the job to be delivered')
      expect(job.attempts.llm).toBe(1)
    } finally {
      relay.process.kill('SIGTERM')
      await relay.process.exited
      close()
    }
  },
  60_000,
)

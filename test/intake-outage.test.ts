import { Database } from 'bun:sqlite'
import { afterAll, expect, test } from 'bun:test'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openOutsideWorld } from './support/outside-world.ts'
import { postgresServerBinaries, testIf } from './support/postgres.ts'
import { PostgresServer } from './support/postgres-server.ts'
import { spawnRelay } from './support/process.ts'
import { startTestRelay, testEnv } from './support/relay.ts'
import { eventually } from './support/signal.ts'

const { dir, llm, sink, close } = openOutsideWorld('store-outage')
afterAll(close)

// Without PostgreSQL's server binaries, one line says what to install instead.
const withPostgres = testIf(postgresServerBinaries, 'intake answering 503 while PostgreSQL is down')

const MAIN = join(import.meta.dir, '..', 'src', 'main.ts')

/**
 * A relay whose files may not grow past a few MB (RLIMIT_FSIZE, with SIGXFSZ ignored so a
 * write past it fails with EFBIG instead of killing the process): the disk is full for it.
 */
function cappedRelayScript(blocks: number): string {
  const script = join(dir, 'capped-relay.sh')
  writeFileSync(
    script,
    `#!/bin/sh\ntrap '' XFSZ\nulimit -f ${blocks}\nexec "${process.execPath}" "${MAIN}"\n`,
  )
  chmodSync(script, 0o755)
  return script
}

test('a full disk answers 503 problem+json with Retry-After, accepts nothing, and is no error in the log', async () => {
  const env = testEnv(join(dir, 'data'), llm, { LOG_LEVEL: 'info', RELAY_ROLE: 'api' })
  const relay = await spawnRelay(env, dir, cappedRelayScript(4000))
  const database = join(dir, 'data', 'relay.db')
  const countJobs = () => {
    const db = new Database(database, { readonly: true })
    try {
      return (db.query('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n
    } finally {
      db.close()
    }
  }
  try {
    const post = () =>
      fetch(`${relay.url}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'x'.repeat(30_000), callback_url: `${sink.url}/hook` }),
      })
    let accepted = 0
    let refused: Response | undefined
    for (let i = 0; i < 1000 && !refused; i++) {
      const response = await post()
      if (response.status === 202) accepted++
      else refused = response
    }
    expect(accepted).toBeGreaterThan(0)
    if (!refused) throw new Error('the disk never filled')
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toBe('5')
    expect(refused.headers.get('content-type')).toStartWith('application/problem+json')
    expect(((await refused.json()) as { detail: string }).detail).toContain('nothing was accepted')

    // Still full: every further attempt is the same 503, and none leaves a job behind.
    const before = countJobs()
    for (let i = 0; i < 3; i++) {
      const again = await post()
      expect(again.status).toBe(503)
      expect(again.headers.get('retry-after')).toBe('5')
    }
    expect(countJobs()).toBe(before)
    expect(countJobs()).toBe(accepted)
    expect((await fetch(`${relay.url}/health`)).status).toBe(200)

    // One warn line per refused request; the last may still be on its way to stdout.
    await eventually(
      async () => relay.output().split('database is unavailable').length - 1 >= 4,
      'four "database is unavailable" lines',
    )
    const lines = relay
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: string; msg: string })
    expect(lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([])
    expect(lines.filter((l) => l.level === 'warn' && l.msg.includes('database is unavailable')).length).toBe(
      4,
    )
  } finally {
    relay.process.kill('SIGTERM')
    await relay.process.exited
  }
})

withPostgres(
  'PostgreSQL stopped answers 503 with Retry-After and no error line; once it is back, 202 again',
  async () => {
    const postgres = await PostgresServer.start()
    try {
      const relay = await startTestRelay({ DATABASE_URL: postgres.url, RELAY_ROLE: 'api', LOG_LEVEL: 'info' })
      try {
        const body = { message: 'hi', callback_url: `${relay.sink.url}/hook` }
        expect((await relay.post(body)).status).toBe(202)

        await postgres.stop()
        const refused = await relay.post(body)
        expect(refused.status).toBe(503)
        expect(refused.headers.get('retry-after')).toBe('5')
        expect(refused.headers.get('content-type')).toStartWith('application/problem+json')
        expect(((await refused.json()) as { detail: string }).detail).toContain('nothing was accepted')
        expect((await fetch(`${relay.url}/health`)).status).toBe(200)

        await postgres.restart()
        await eventually(async () => (await relay.post(body)).status === 202, 'a 202 once PostgreSQL is back')
        const lines = relay.logs.map((line) => JSON.parse(line) as { level: string; msg: string })
        expect(lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([])
        expect(lines.some((l) => l.level === 'warn' && l.msg.includes('database is unavailable'))).toBe(true)
      } finally {
        await relay.close()
      }
    } finally {
      await postgres.remove()
    }
  },
)

import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'

const DATA_KEY = `k1:${Buffer.alloc(32, 7).toString('base64')}`
const TOKEN = 'Bearer receiver-token-93ab61f0c2d4'

// Retries wait on this clock (CALLBACK_RETRY_SCHEDULE is 20ms,20ms).
const clock = new ManualClock(Date.now())
let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay({ DATA_ENCRYPTION_KEY: DATA_KEY }, { clock })
})
afterAll(() => relay.close())

const post = (callback_headers: unknown, extra: Record<string, unknown> = {}) =>
  relay.post({ message: 'with headers', callback_url: `${relay.sink.url}/hook`, callback_headers, ...extra })

describe('callback_headers', () => {
  test('are sent with every attempt, beside the relay’s own headers, which they cannot replace', async () => {
    relay.sink.respond(503)
    const response = await post({ Authorization: TOKEN, 'X-Tenant': 'tenant-7' }, { conversation_id: 'hdr' })
    expect(response.status).toBe(202)
    const { id } = (await response.json()) as { id: string }
    const attempts = await clock.advanceUntil(
      20,
      () => relay.sink.forJob(id).length >= 2 && relay.sink.forJob(id),
      'two attempts',
    )
    for (const attempt of attempts) {
      expect(attempt.headers.get('authorization')).toBe(TOKEN)
      expect(attempt.headers.get('x-tenant')).toBe('tenant-7')
      expect(attempt.headers.get('webhook-id')).toBe(id)
      expect(attempt.headers.get('content-type')).toBe('application/json')
      expect(attempt.raw).not.toContain('receiver-token')
    }
    const view = await relay.waitForStatus(id, 'delivered')
    expect(view.callback_headers).toEqual(['authorization', 'x-tenant'])
    expect(JSON.stringify(view)).not.toContain('receiver-token')
  })

  test('names that are not tokens, or that the relay or the connection sets, are refused and nothing is accepted', async () => {
    const before = relay.countJobs()
    const cases: [Record<string, string>, string][] = [
      [{ Host: 'evil.example' }, '/callback_headers/Host'],
      [{ 'Content-Length': '1' }, '/callback_headers/Content-Length'],
      [{ Connection: 'close' }, '/callback_headers/Connection'],
      [{ 'Transfer-Encoding': 'chunked' }, '/callback_headers/Transfer-Encoding'],
      [{ 'webhook-signature': 'v1,forged' }, '/callback_headers/webhook-signature'],
      [{ 'bad name': 'x' }, '/callback_headers/bad name'],
      [{ 'a/b': 'x' }, '/callback_headers/a~1b'],
      [{ 'X-Ok': 'line\r\nInjected: yes' }, '/callback_headers/X-Ok'],
      [{ 'x-dup': 'a', 'X-Dup': 'b' }, '/callback_headers/X-Dup'],
    ]
    for (const [headers, field] of cases) {
      const response = await post(headers)
      expect({ headers, status: response.status }).toEqual({ headers, status: 422 })
      const problem = (await response.json()) as { errors: { field: string }[] }
      expect(problem.errors.map((e) => e.field)).toContain(field)
    }
    const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`x-h${i}`, 'v']))
    expect((await post(nine)).status).toBe(422)
    expect((await post({ 'x-n': 5 })).status).toBe(422)
    expect((await post(['authorization'])).status).toBe(422)
    expect(relay.countJobs()).toBe(before)
  })

  test('a stored header that no longer opens (tampered at rest) is not sent: the attempt fails, retried', async () => {
    const held = relay.llm.hold()
    const response = await post({ Authorization: TOKEN }, { conversation_id: 'tampered' })
    const { id } = (await response.json()) as { id: string }
    await held.received
    // Someone with the database but not the key swaps in another job's sealed value.
    const db = new Database(join(relay.dir, 'relay.db'))
    const other = db
      .query<{ callback_headers: string }, [string]>(
        'SELECT callback_headers FROM jobs WHERE id != ? AND callback_headers IS NOT NULL LIMIT 1',
      )
      .get(id)
    db.query('UPDATE jobs SET callback_headers = ? WHERE id = ?').run(other?.callback_headers ?? '', id)
    db.close()
    held.release()
    const dead = await clock.advanceUntil(
      20,
      async () => {
        const view = await relay.job(id)
        return view.status === 'dead' && view
      },
      'the job to be dead',
    )
    expect(dead.deliveries.map((d) => d.error?.code)).toEqual([
      'callback_secret_unavailable',
      'callback_secret_unavailable',
      'callback_secret_unavailable',
    ])
    expect(relay.sink.forJob(id)).toHaveLength(0)
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { databaseUrl, dropSchemas, freshSchema } from './support/postgres.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

/*
 * GET /jobs, POST /jobs/redeliver and GET /conversations over HTTP, on both stores: every
 * filter, pagination (also while jobs arrive), and key ownership: a client key sees its own,
 * an admin key everyone's, and without keys everything is open.
 */

const ALICE = 'alice:alice-key-0123456789abcdef'
const BOB = 'bob:bob-key-0123456789abcdefghij'
const OPS = 'ops:ops-key-0123456789abcdefghij'
const keyOf = (entry: string) => entry.slice(entry.indexOf(':') + 1)
const KEYS = { alice: keyOf(ALICE), bob: keyOf(BOB), ops: keyOf(OPS) }
type Who = keyof typeof KEYS | 'nobody'

interface Summary {
  id: string
  owner: string
  conversation_id: string
  sequence: number
  status: string
  model: string
  message_preview: string
  error_code: string | null
  attempts: { llm: number; delivery: number }
  created_at: string
  updated_at: string
}
interface Page<T> {
  data: T[]
  next_cursor: string | null
}
interface ConversationSummary {
  id: string
  owner: string
  messages: number
  last_message_at: string
  open_jobs: number
}

const schemas: string[] = []
afterAll(async () => {
  await dropSchemas(schemas)
})

const stores: { name: string; env: () => Record<string, string> }[] = [
  { name: 'SQLite', env: () => ({}) },
  {
    name: 'PostgreSQL',
    env: () => {
      const schema = freshSchema('relay_job_listing')
      schemas.push(schema)
      return { DATABASE_URL: databaseUrl(schema), DATABASE_POOL_MAX: '4' }
    },
  },
]

describe.each(stores)('$name', ({ env }) => {
  let relay: TestRelay
  let held: { release: () => void }
  const jobs: Record<string, string[]> = {}

  const headers = (who: Who): Record<string, string> => (who === 'nobody' ? {} : { 'x-api-key': KEYS[who] })
  const get = (who: Who, path: string) => fetch(`${relay.url}${path}`, { headers: headers(who) })
  const post = (who: Who, path: string, body: unknown) =>
    fetch(`${relay.url}${path}`, {
      method: 'POST',
      headers: { ...headers(who), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  async function send(who: Who, message: string, conversation: string): Promise<string> {
    const response = await post(who, '/webhook', {
      message,
      callback_url: `${relay.sink.url}/hook`,
      conversation_id: conversation,
    })
    expect(response.status).toBe(202)
    return ((await response.json()) as { id: string }).id
  }

  const statusOf = async (id: string) =>
    ((await (await get('ops', `/jobs/${id}`)).json()) as { status: string }).status
  const waitFor = (ids: string[], status: string) =>
    eventually(
      async () => (await Promise.all(ids.map(statusOf))).every((s) => s === status),
      `${ids.length} jobs to be ${status}`,
    )

  /** Every page of a listing, following next_cursor; the ids in order. */
  async function everyPage<T extends { id: string }>(who: Who, path: string, limit: number): Promise<T[]> {
    const all: T[] = []
    let cursor: string | null = null
    const join = path.includes('?') ? '&' : '?'
    do {
      const suffix: string = cursor === null ? '' : `&cursor=${cursor}`
      const response = await get(who, `${path}${join}limit=${limit}${suffix}`)
      expect(response.status).toBe(200)
      const page = (await response.json()) as Page<T>
      expect(page.data.length).toBeLessThanOrEqual(limit)
      all.push(...page.data)
      cursor = page.next_cursor
    } while (cursor !== null)
    return all
  }
  const list = (who: Who, query = '', limit = 500) => everyPage<Summary>(who, `/jobs${query}`, limit)

  beforeAll(async () => {
    relay = await startTestRelay({ ...env(), API_KEYS: `${ALICE},${BOB}`, ADMIN_API_KEYS: OPS })
    // Dead: every callback attempt fails.
    relay.sink.fail()
    jobs.aliceDead = [await send('alice', 'first undeliverable', 'a-dead')]
    jobs.aliceDead.push(await send('alice', 'second undeliverable', 'a-dead'))
    jobs.bobDead = [await send('bob', 'bob undeliverable', 'shared')]
    await waitFor([...jobs.aliceDead, ...jobs.bobDead], 'dead')
    relay.sink.recover()
    jobs.aliceOk = [
      await send('alice', 'The invoice for March', 'a-ok'),
      await send('alice', 'an INVOICE in capitals', 'a-ok'),
      await send('alice', 'nothing to see', 'a-ok'),
    ]
    jobs.bobOk = [await send('bob', 'bob says hi', 'shared'), await send('bob', 'bob in a-ok', 'a-ok')]
    jobs.opsOk = [await send('ops', 'an operator writes too', 'ops-conv')]
    await waitFor([...jobs.aliceOk, ...jobs.bobOk, ...jobs.opsOk], 'delivered')
    // One message held at the LLM, and one waiting behind it.
    held = relay.llm.hold()
    jobs.aliceOpen = [await send('alice', 'slow one', 'a-slow')]
    await waitFor(jobs.aliceOpen, 'processing')
    jobs.aliceOpen.push(await send('alice', 'waits its turn', 'a-slow'))
  })
  afterAll(async () => {
    held.release()
    await relay.close()
  })

  test('a client key lists its own jobs, newest first, as summaries', async () => {
    const mine = await list('alice')
    const expected = ['aliceDead', 'aliceOk', 'aliceOpen'].flatMap((k) => jobs[k] ?? [])
    expect(mine.map((j) => j.id).sort()).toEqual(expected.sort())
    expect(mine.every((j) => j.owner === 'alice')).toBe(true)
    // Newest first.
    expect(mine.map((j) => j.created_at)).toEqual(
      mine
        .map((j) => j.created_at)
        .sort()
        .reverse(),
    )
    expect(mine[0]).toEqual({
      id: jobs.aliceOpen?.[1] as string,
      owner: 'alice',
      conversation_id: 'a-slow',
      sequence: 2,
      status: 'queued',
      model: 'fake/model',
      message_preview: 'waits its turn',
      error_code: null,
      attempts: { llm: 0, delivery: 0 },
      created_at: expect.any(String),
      updated_at: expect.any(String),
    })
    expect((await list('bob')).map((j) => j.id).sort()).toEqual(
      ['bobDead', 'bobOk'].flatMap((k) => jobs[k] ?? []).sort(),
    )
  })

  test('an admin key lists every client’s jobs, and reads and redelivers any of them by id', async () => {
    const all = await list('ops')
    expect(all).toHaveLength(Object.values(jobs).flat().length)
    expect(new Set(all.map((j) => j.owner))).toEqual(new Set(['alice', 'bob', 'ops']))
    const bobs = jobs.bobOk?.[0] as string
    expect((await get('ops', `/jobs/${bobs}`)).status).toBe(200)
    expect((await get('alice', `/jobs/${bobs}`)).status).toBe(404)
    expect((await post('alice', `/jobs/${bobs}/redeliver`, {})).status).toBe(404)
    const before = relay.sink.forJob(bobs).length
    expect((await post('ops', `/jobs/${bobs}/redeliver`, {})).status).toBe(202)
    await relay.sink.waitForJob(bobs, before + 1)
    await waitFor([bobs], 'delivered')
    expect((await get('ops', '/jobs/no-such-job')).status).toBe(404)
  })

  test('pages follow next_cursor through every job once, at any page size', async () => {
    const all = await list('ops')
    for (const limit of [1, 2, 5])
      expect((await list('ops', '', limit)).map((j) => j.id)).toEqual(all.map((j) => j.id))
    const first = (await (await get('ops', '/jobs?limit=3')).json()) as Page<Summary>
    expect(first.data.map((j) => j.id)).toEqual(all.slice(0, 3).map((j) => j.id))
    expect(first.next_cursor).toMatch(/^[A-Za-z0-9_-]+$/)
    const last = (await (await get('ops', `/jobs?limit=${all.length}`)).json()) as Page<Summary>
    expect(last.next_cursor).toBeNull()
  })

  test('filters: status (repeated or comma-joined), conversation, time range, text, and all at once', async () => {
    const all = await list('ops')
    const ids = (rows: Summary[]) => rows.map((j) => j.id)
    const expectFilter = async (query: string, keep: (j: Summary) => boolean, who: Who = 'ops') => {
      const expected = ids((who === 'ops' ? all : await list(who)).filter(keep))
      expect(ids(await list(who, query, 2)), query).toEqual(expected)
      return expected
    }
    expect(await expectFilter('?status=dead', (j) => j.status === 'dead')).toHaveLength(3)
    await expectFilter('?status=dead&status=queued', (j) => ['dead', 'queued'].includes(j.status))
    await expectFilter('?status=processing,delivered', (j) => ['processing', 'delivered'].includes(j.status))
    // Every client’s conversation of that id for an admin; one’s own for a client.
    expect(await expectFilter('?conversation_id=a-ok', (j) => j.conversation_id === 'a-ok')).toHaveLength(4)
    expect(
      await expectFilter('?conversation_id=a-ok', (j) => j.conversation_id === 'a-ok', 'alice'),
    ).toHaveLength(3)
    const middle = all[Math.floor(all.length / 2)] as Summary
    await expectFilter(`?created_after=${middle.created_at}`, (j) => j.created_at >= middle.created_at)
    await expectFilter(`?created_before=${middle.created_at}`, (j) => j.created_at < middle.created_at)
    await expectFilter(`?q=${encodeURIComponent('invoice')}`, (j) => j.message_preview.includes('invoice'))
    expect(
      await expectFilter('?q=undeliverable', (j) => j.message_preview.includes('undeliverable'), 'bob'),
    ).toEqual(jobs.bobDead as string[])
    const start = all.at(-1)?.created_at as string
    await expectFilter(
      `?status=dead&status=delivered&conversation_id=shared&created_after=${start}&created_before=2999-01-01T00:00:00Z&q=bob`,
      (j) => j.conversation_id === 'shared' && ['dead', 'delivered'].includes(j.status),
    )
  })

  test('bad queries are 422 problems that name the field', async () => {
    for (const [query, field] of [
      ['?limit=0', 'limit'],
      ['?limit=501', 'limit'],
      ['?limit=many', 'limit'],
      ['?status=lost', 'status'],
      ['?status=dead,lost', 'status'],
      ['?created_after=yesterday', 'created_after'],
      [`?q=${'x'.repeat(201)}`, 'q'],
      ['?conversation_id=no%20spaces', 'conversation_id'],
      ['?cursor=not-a-cursor', 'cursor'],
      ['?cursor=WyJjIiwxLCJhIiwiYiJd', 'cursor'],
      ['?unknown=1', 'unknown'],
    ] as const) {
      const response = await get('ops', `/jobs${query}`)
      expect(response.status, query).toBe(422)
      expect(response.headers.get('content-type')).toContain('application/problem+json')
      const problem = (await response.json()) as { errors?: { field: string; message: string }[] }
      // A number out of range is reported for the whole query by Elysia; its message names the field.
      const named = problem.errors?.map((e) => (e.field === 'query' ? e.message.split(' ')[0] : e.field))
      expect(named, query).toContain(field)
    }
    expect((await get('nobody', '/jobs')).status).toBe(401)
    expect((await get('nobody', '/conversations')).status).toBe(401)
  })

  test('pagination while jobs are accepted: no page repeats or skips a job that was there', async () => {
    const before = (await list('bob')).map((j) => j.id)
    const seen: string[] = []
    let cursor: string | null = null
    const arriving: Promise<string>[] = []
    do {
      arriving.push(send('bob', `arrives while paging ${arriving.length}`, `paging-${arriving.length % 2}`))
      const suffix: string = cursor === null ? '' : `&cursor=${cursor}`
      const page = (await (await get('bob', `/jobs?limit=2${suffix}`)).json()) as Page<Summary>
      seen.push(...page.data.map((j) => j.id))
      cursor = page.next_cursor
    } while (cursor !== null)
    const arrived = await Promise.all(arriving)
    expect(new Set(seen).size).toBe(seen.length)
    expect(before.filter((id) => !seen.includes(id))).toEqual([])
    expect(seen.filter((id) => !before.includes(id) && !arrived.includes(id))).toEqual([])
    jobs.bobPaging = arrived
    await waitFor(arrived, 'delivered')
  })

  test('GET /conversations: most recently active first, own or everyone’s, with counts', async () => {
    const mine = await everyPage<ConversationSummary>('alice', '/conversations', 2)
    expect(mine.find((c) => c.id === 'a-ok')).toEqual({
      id: 'a-ok',
      owner: 'alice',
      messages: 3,
      last_message_at: expect.any(String),
      open_jobs: 0,
    })
    expect(mine.find((c) => c.id === 'a-slow')).toMatchObject({ messages: 2, open_jobs: 2 })
    // By the latest message accepted: a-slow's came last, a-dead's first.
    expect(mine.map((c) => c.id)).toEqual(['a-slow', 'a-ok', 'a-dead'])
    const newest = await (await get('ops', `/jobs/${jobs.aliceOpen?.[1]}`)).json()
    expect(mine[0]?.last_message_at).toBe((newest as { created_at: string }).created_at)
    const everyone = await everyPage<ConversationSummary>('ops', '/conversations', 3)
    expect(everyone.map((c) => `${c.owner}/${c.id}`).sort()).toEqual(
      [
        'alice/a-dead',
        'alice/a-ok',
        'alice/a-slow',
        'bob/shared',
        'bob/a-ok',
        'bob/paging-0',
        'bob/paging-1',
        'ops/ops-conv',
      ].sort(),
    )
    const times = everyone.map((c) => c.last_message_at)
    expect(times).toEqual([...times].sort().reverse())
    expect((await get('ops', '/conversations?cursor=WyJqIiwxLDJd')).status).toBe(422)
  })

  test('POST /jobs/redeliver sends a client’s dead jobs again, only theirs, and repeats safely', async () => {
    const before = relay.sink.received.length
    const alice = await post('alice', '/jobs/redeliver', { status: 'dead' })
    expect(alice.status).toBe(202)
    expect(await alice.json()).toEqual({ scheduled: 2, more: false })
    await relay.sink.waitFor(before + 2)
    await waitFor(jobs.aliceDead as string[], 'delivered')
    expect(await statusOf(jobs.bobDead?.[0] as string)).toBe('dead')
    expect(await (await post('alice', '/jobs/redeliver', { status: 'dead' })).json()).toEqual({
      scheduled: 0,
      more: false,
    })
  })

  test('POST /jobs/redeliver for an admin takes every client’s, narrowed by conversation and time', async () => {
    const bobs = jobs.bobDead?.[0] as string
    const view = (await (await get('ops', `/jobs/${bobs}`)).json()) as { created_at: string }
    const after = new Date(Date.parse(view.created_at) + 1).toISOString()
    expect(await (await post('ops', '/jobs/redeliver', { status: 'dead', since: after })).json()).toEqual({
      scheduled: 0,
      more: false,
    })
    expect(
      await (await post('ops', '/jobs/redeliver', { status: 'dead', conversation_id: 'a-dead' })).json(),
    ).toEqual({ scheduled: 0, more: false })
    const response = await post('ops', '/jobs/redeliver', {
      status: 'dead',
      conversation_id: 'shared',
      since: view.created_at,
      until: after,
    })
    expect(await response.json()).toEqual({ scheduled: 1, more: false })
    await waitFor([bobs], 'delivered')
    // Delivered ones can be sent again too.
    const again = (await (
      await post('bob', '/jobs/redeliver', { status: 'delivered', conversation_id: 'shared' })
    ).json()) as { scheduled: number }
    expect(again.scheduled).toBe(2)
  })

  test('POST /jobs/redeliver refuses a body without a status, or another status, and changes nothing', async () => {
    for (const body of [
      {},
      { status: 'queued' },
      { status: 'dead', since: 'soon' },
      { status: 'dead', extra: 1 },
    ]) {
      const response = await post('ops', '/jobs/redeliver', body)
      expect(response.status, JSON.stringify(body)).toBe(422)
    }
    expect(
      (await fetch(`${relay.url}/jobs/redeliver`, { method: 'POST', headers: headers('ops'), body: 'x' }))
        .status,
    ).toBe(415)
  })
  test('an admin key cancels any client’s job; another client’s key cannot; GET /jobs?status=cancelled finds it', async () => {
    const waiting = jobs.aliceOpen?.[1] as string
    expect((await post('bob', `/jobs/${waiting}/cancel`, {})).status).toBe(404)
    const cancelled = await post('ops', `/jobs/${waiting}/cancel`, {})
    expect(cancelled.status).toBe(200)
    expect(((await cancelled.json()) as { status: string }).status).toBe('cancelled')
    expect((await list('alice', '?status=cancelled')).map((j) => j.id)).toEqual([waiting])
  })
})

describe('without API keys', () => {
  let relay: TestRelay
  beforeAll(async () => {
    relay = await startTestRelay()
  })
  afterAll(() => relay.close())

  test('the listings are open, and show every job and conversation', async () => {
    const { id } = await relay.send('open to all', { conversation_id: 'open' })
    await relay.waitForStatus(id, 'delivered')
    const page = (await (await fetch(`${relay.url}/jobs`)).json()) as Page<Summary>
    expect(page.data.map((j) => [j.id, j.owner, j.status])).toEqual([[id, '', 'delivered']])
    const conversations = (await (
      await fetch(`${relay.url}/conversations`)
    ).json()) as Page<ConversationSummary>
    expect(conversations.data).toEqual([
      { id: 'open', owner: '', messages: 1, last_message_at: expect.any(String), open_jobs: 0 },
    ])
  })
})

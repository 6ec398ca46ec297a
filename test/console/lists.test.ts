import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ConsoleClient } from '../support/console-client.ts'
import { startTestRelay, type TestRelay } from '../support/relay.ts'

// An open relay (no keys): the console's lists as an operator pages and filters them.
let relay: TestRelay
let console_: ConsoleClient
const ids: string[] = []

const jobIds = (html: string): string[] => [
  ...new Set([...html.matchAll(/href="\/console\/jobs\/([0-9a-f-]{36})"/g)].map((m) => m[1] as string)),
]

beforeAll(async () => {
  relay = await startTestRelay({ CALLBACK_RETRY_SCHEDULE: '20ms' })
  for (let i = 0; i < 12; i++) {
    const job = await relay.send(`message number ${i}`, { conversation_id: `chat-${i % 3}` })
    ids.push(job.id)
  }
  for (const id of ids) await relay.waitForStatus(id, 'delivered')
  console_ = new ConsoleClient(relay.url)
  await console_.page('/console')
})
afterAll(() => relay.close())

describe('the jobs list', () => {
  test('pages newest first with Older, every job once, and only the newest page is polled', async () => {
    const first = await console_.page('/console/jobs?limit=5')
    expect(jobIds(first.html)).toEqual(ids.slice(-5).reverse())
    expect(first.html).toContain('hx-get="/console/jobs/rows?limit=5"')
    const older = /href="(\/console\/jobs\?[^"]*cursor=[^"]+)"/
      .exec(first.html)?.[1]
      ?.replaceAll('&amp;', '&')
    expect(older).toBeDefined()
    // New jobs arriving between pages do not shift the next one.
    await relay.send('a latecomer')
    const second = await console_.page(older as string)
    expect(jobIds(second.html)).toEqual(ids.slice(2, 7).reverse())
    expect(second.html).not.toContain('hx-trigger')
    expect(second.html).toContain('← Newest')
  })

  test('filters by conversation, message text and creation time, and keeps them in the form', async () => {
    const chat = await console_.page('/console/jobs?conversation_id=chat-1')
    expect(jobIds(chat.html)).toEqual(ids.filter((_, i) => i % 3 === 1).reverse())
    expect(chat.html).toContain('value="chat-1"')
    const text = await console_.page('/console/jobs?q=number%2011')
    expect(jobIds(text.html)).toEqual([ids[11] as string])
    const future = await console_.page('/console/jobs?created_after=2999-01-01T00:00')
    expect(jobIds(future.html)).toEqual([])
    expect(future.html).toContain('No job matches.')
    expect(future.html).toContain('value="2999-01-01T00:00"')
    const past = await console_.page('/console/jobs?created_before=2999-01-01T00:00&limit=500')
    expect(jobIds(past.html)).toEqual(expect.arrayContaining(ids))
    // A value that does not parse is left out rather than refused.
    const odd = await console_.page('/console/jobs?created_after=yesterday&status=bogus&limit=-3')
    expect(odd.status).toBe(200)
  })

  test('status tabs carry counts of the open statuses and filter by status', async () => {
    const delivered = await console_.page('/console/jobs?status=delivered')
    expect(delivered.html).toContain('class="tab active"')
    expect(delivered.html).toMatch(/Queued<\/span><span class="count">\d+<\/span>/)
    const queued = await console_.page('/console/jobs?status=queued')
    for (const id of ids) expect(queued.html).not.toContain(id)
  })

  test('the rows endpoint answers the table body alone, for htmx to swap', async () => {
    const rows = await console_.page('/console/jobs/rows?limit=5')
    expect(rows.html).toStartWith('<tbody id="job-rows"')
    expect(rows.html).not.toContain('<html')
  })
})

describe('dead letters', () => {
  test('list only dead jobs, and Redeliver all shown sends each of them again', async () => {
    relay.sink.fail(500)
    const dead = [await relay.send('first to die'), await relay.send('second to die')]
    for (const job of dead) await relay.waitForStatus(job.id, 'dead')
    relay.sink.recover()
    const page = await console_.page('/console/dead')
    expect(jobIds(page.html).sort()).toEqual(dead.map((j) => j.id).sort())
    expect(page.html).toContain('Redeliver all shown (2)')
    const response = await console_.post('/console/dead/redeliver', { id: dead.map((j) => j.id) })
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/console/dead?done=redelivered-all&n=2')
    for (const job of dead) await relay.waitForStatus(job.id, 'delivered')
    const after = await console_.page('/console/dead?done=redelivered-all&n=2')
    expect(after.html).toContain('2 jobs scheduled for redelivery.')
    expect(after.html).toContain('No dead jobs')
  })
})

describe('conversations', () => {
  test('listed most recently active first; one opens with its history; Forget deletes it', async () => {
    const list = await console_.page('/console/conversations')
    expect(list.html).toContain('href="/console/conversations/chat-0"')
    const chat = await console_.page('/console/conversations/chat-2')
    expect(chat.html).toContain('message number 11')
    expect(chat.html).toContain('echo: message number 11')
    const forgot = await console_.post('/console/conversations/chat-2/forget')
    expect(forgot.status).toBe(303)
    expect(forgot.headers.get('location')).toBe('/console/conversations?done=forgotten')
    expect((await console_.page('/console/conversations/chat-2')).status).toBe(404)
    expect((await fetch(`${relay.url}/conversations/chat-2`)).status).toBe(404)
  })
})

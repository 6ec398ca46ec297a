import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay()
})
afterAll(() => relay.close())

const body = (message: string) => ({
  message,
  callback_url: `${relay.sink.url}/hook`,
  conversation_id: message.replace(/[^A-Za-z0-9]/g, '-'),
})

test('Prefer: wait answered in time: 200 with the job and its answer, and the callback is still sent', async () => {
  const response = await relay.post(body('wait for me'), { prefer: 'wait=10' })
  expect(response.status).toBe(200)
  expect(response.headers.get('preference-applied')).toBe('wait=10')
  const job = (await response.json()) as { id: string; response: string; status: string; status_url: string }
  expect(job.response).toBe('echo: wait for me')
  expect(['delivering', 'delivered']).toContain(job.status)
  expect(job.status_url).toBe(`${relay.url}/jobs/${job.id}`)
  const [callback] = await relay.sink.waitForJob(job.id)
  expect(callback?.body.data.response).toBe('echo: wait for me')
})

test('Prefer: wait not answered in time: 202 as usual, saying how long it waited; the answer follows by callback', async () => {
  const held = relay.llm.hold()
  const response = await relay.post(body('too slow'), { prefer: 'wait=1' })
  expect(response.status).toBe(202)
  expect(response.headers.get('preference-applied')).toBe('wait=1')
  const { id } = (await response.json()) as { id: string }
  held.release()
  const [callback] = await relay.sink.waitForJob(id)
  expect(callback?.body.type).toBe('job.completed')
})

test('a wait above 30 s is cut to 30, and a failed job ends the wait too', async () => {
  relay.llm.next(() => Response.json({ error: { message: 'bad key', code: 401 } }, { status: 401 }))
  const response = await relay.post(body('fails fast'), { prefer: 'wait=3600' })
  expect(response.headers.get('preference-applied')).toBe('wait=30')
  expect(response.status).toBe(200)
  const job = (await response.json()) as { error: { code: string } | null; response: string | null }
  expect(job.response).toBeNull()
  expect(job.error?.code).toBe('llm_auth')
})

test('without Prefer, or with one it does not read, nothing waits', async () => {
  for (const prefer of [undefined, 'respond-async', 'wait=soon']) {
    const response = await relay.post(body(`no wait ${prefer}`), prefer ? { prefer } : {})
    expect(response.status).toBe(202)
    expect(response.headers.get('preference-applied')).toBeNull()
    await relay.sink.waitForJob(((await response.json()) as { id: string }).id)
  }
})

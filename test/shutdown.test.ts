import { afterAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { openOutsideWorld } from './support/outside-world.ts'
import { spawnRelay } from './support/process.ts'
import { testEnv } from './support/relay.ts'

const { dir, llm, sink, close } = openOutsideWorld('shutdown')
afterAll(close)

const post = (url: string, message: string, conversation: string) =>
  fetch(`${url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, callback_url: `${sink.url}/hook`, conversation_id: conversation }),
  })

const history = async (url: string, conversation: string) =>
  (
    (await (await fetch(`${url}/conversations/${conversation}`)).json()) as {
      messages: { content: string }[]
    }
  ).messages

test('SIGTERM drains: new requests get 503, the job in flight is answered exactly once, the process exits 0', async () => {
  const env = testEnv(join(dir, 'a'), llm, { LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT: '10s' })
  const relay = await spawnRelay(env, dir)
  const held = llm.hold()
  const accepted = await post(relay.url, 'finish me', 'drain')
  const { id } = (await accepted.json()) as { id: string }
  await held.received

  relay.process.kill('SIGTERM')
  await relay.waitForOutput('"draining"')
  const refused = await post(relay.url, 'too late', 'drain-late')
  expect(refused.status).toBe(503)
  expect(refused.headers.get('retry-after')).toBe('5')
  expect(refused.headers.get('content-type')).toStartWith('application/problem+json')
  expect((await fetch(`${relay.url}/ready`)).status).toBe(503)
  expect((await fetch(`${relay.url}/health`)).status).toBe(200)

  held.release()
  expect(await relay.process.exited).toBe(0)
  expect(sink.forJob(id)).toHaveLength(1)
  expect(sink.forJob(id)[0]?.body.data.response).toBe('echo: finish me')
  expect(llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'finish me')).toHaveLength(1)
  expect(llm.calls.some((c) => c.body.messages.at(-1)?.content === 'too late')).toBe(false)
})

test('what is still running at SHUTDOWN_TIMEOUT is released and taken at once by the next process', async () => {
  // A lease of 10 minutes: only the release at shutdown lets the next process take the job now.
  const env = testEnv(join(dir, 'b'), llm, { LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT: '100ms', JOB_LEASE: '10m' })
  const first = await spawnRelay(env, dir)
  const held = llm.hold()
  const { id } = (await (await post(first.url, 'outlive me', 'released')).json()) as { id: string }
  await held.received
  first.process.kill('SIGTERM')
  expect(await first.process.exited).toBe(0)
  expect(first.output()).toContain('released leases of unfinished jobs')

  const second = await spawnRelay(env, dir)
  try {
    const [callback] = await sink.waitForJob(id)
    held.release()
    expect(callback?.body.data.response).toBe('echo: outlive me')
    const messages = await history(second.url, 'released')
    expect(messages.map((m) => m.content)).toEqual(['outlive me', 'echo: outlive me'])
    const job = (await (await fetch(`${second.url}/jobs/${id}`)).json()) as { attempts: { llm: number } }
    expect(job.attempts.llm).toBe(1)
  } finally {
    second.process.kill('SIGTERM')
    await second.process.exited
  }
})

import { afterAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { openOutsideWorld } from './support/outside-world.ts'
import { runCommand, spawnRelay } from './support/process.ts'
import { testEnv } from './support/relay.ts'
import { eventually } from './support/signal.ts'

const { dir, llm, sink, close } = openOutsideWorld('crash')
afterAll(close)

test('a relay killed mid-call is restarted: the job is answered at once, not after JOB_LEASE, once into history, and delivered', async () => {
  // A lease far longer than the waits below: only the restart's recovery can free the job in time.
  const env = testEnv(dir, llm, { JOB_LEASE: '2m', LOG_LEVEL: 'info' })
  const first = await spawnRelay(env, dir)
  const held = llm.hold()
  const response = await fetch(`${first.url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message: 'survive this',
      callback_url: `${sink.url}/hook`,
      conversation_id: 'crash',
    }),
  })
  expect(response.status).toBe(202)
  const { id } = (await response.json()) as { id: string }
  await held.received
  first.process.kill('SIGKILL')
  await first.process.exited
  held.release()

  const second = await spawnRelay(env, dir)
  try {
    const [callback] = await sink.waitForJob(id, 1, 10_000)
    expect(callback?.body.data.response).toBe('echo: survive this')
    expect(llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'survive this')).toHaveLength(2)
    await second.waitForOutput('released the leases of a worker that died')
    const job = await eventually(async () => {
      const view = (await (await fetch(`${second.url}/jobs/${id}`)).json()) as {
        status: string
        attempts: { llm: number }
      }
      return view.status === 'delivered' && view
    }, 'the job to be delivered')
    expect(job.attempts.llm).toBe(2)
    const history = (await (await fetch(`${second.url}/conversations/crash`)).json()) as {
      messages: { role: string; content: string }[]
    }
    expect(history.messages).toEqual([
      expect.objectContaining({ role: 'user', content: 'survive this' }),
      expect.objectContaining({ role: 'assistant', content: 'echo: survive this' }),
    ])
    expect(sink.forJob(id)).toHaveLength(1)
  } finally {
    second.process.kill('SIGTERM')
    expect(await second.process.exited).toBe(0)
  }
}, 30_000)

test('a bad configuration stops the start with one line per bad variable', async () => {
  const { code, err: stderr } = await runCommand(
    [process.execPath, join(import.meta.dir, '..', 'src', 'main.ts')],
    {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', PORT: 'eighty', LLM_TIMEOUT: 'soon', DATABASE_URL: 'mysql://x' },
    },
  )
  expect(code).toBe(1)
  expect(stderr).toContain('PORT: must be a whole number')
  expect(stderr).toContain('LLM_TIMEOUT: must be a duration')
  expect(stderr).toContain('DATABASE_URL: must start with sqlite: or postgres://')
})

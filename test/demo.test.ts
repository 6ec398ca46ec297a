import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FakeLlm } from './support/fake-llm.ts'
import { runCommand } from './support/process.ts'
import { TEST_LLM_KEY } from './support/relay.ts'

const DEMO = join(import.meta.dir, '..', 'src', 'demo.ts')

// `bun run demo` as a newcomer runs it, but from an empty folder (so no developer's .env is
// read) and with LLM_BASE_URL on the fake LLM, so it never reaches the network.
let dir: string
let llm: FakeLlm
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'llm-relay-demo-test-'))
  llm = new FakeLlm()
})
afterAll(() => {
  llm.stop()
  rmSync(dir, { recursive: true, force: true })
})

async function demo(env: Record<string, string>, ...args: string[]) {
  return runCommand([process.execPath, 'run', DEMO, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', TMPDIR: tmpdir(), LLM_BASE_URL: llm.url, ...env },
  })
}

test('with a key: the message is answered, the callback printed, and the demo exits 0', async () => {
  const before = llm.calls.length
  const run = await demo({ LLM_API_KEY: TEST_LLM_KEY, LLM_MODEL: 'fake/model' }, 'hi')
  expect(run.err).toBe('')
  expect(run.code).toBe(0)
  expect(run.out).toContain('202 Accepted')
  expect(run.out).toContain('job.completed')
  expect(run.out).toContain('echo: hi')
  expect(run.out).toContain('delivered')
  expect(run.out).not.toContain('openrouter.ai/keys')
  expect(llm.calls.length).toBe(before + 1)
  expect(llm.calls.at(-1)?.body.messages.at(-1)).toEqual({ role: 'user', content: 'hi' })
}, 30_000)

test('without a key: it shows the job.failed callback with llm_auth and where to get a key', async () => {
  const before = llm.calls.length
  const run = await demo({})
  expect(run.code).toBe(0)
  expect(run.out).toContain('Hello! In one sentence, what is llm-relay?')
  expect(run.out).toContain('job.failed')
  expect(run.out).toContain('llm_auth')
  expect(run.out).toContain('https://openrouter.ai/keys')
  expect(llm.calls.length).toBe(before)
}, 30_000)

test('a bad setting stops the demo with the config error', async () => {
  const run = await demo({ LLM_TIMEOUT: 'soon' })
  expect(run.code).toBe(1)
  expect(run.out).toContain('LLM_TIMEOUT')
}, 30_000)

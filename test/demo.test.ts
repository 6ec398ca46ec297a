import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FakeLlm } from './support/fake-llm.ts'
import { runCommand } from './support/process.ts'
import { TEST_LLM_KEY } from './support/relay.ts'

const DEMO = join(import.meta.dir, '..', 'examples', 'demo.ts')

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

const withKey = { LLM_API_KEY: TEST_LLM_KEY, LLM_MODEL: 'fake/model' }

test('with a key: the message is answered, the callback printed, and the demo exits 0', async () => {
  const before = llm.calls.length
  const run = await demo(withKey, 'hi')
  expect(run.err).toBe('')
  expect(run.code).toBe(0)
  expect(run.out).toContain('202 Accepted')
  expect(run.out).toContain('job.completed')
  expect(run.out).toContain('echo: hi')
  expect(run.out).toContain('answered by fake/model')
  expect(run.out).toContain('the receiver answered 200: delivered')
  expect(run.out).toContain('Answered and delivered.')
  expect(run.out).not.toContain('openrouter.ai/keys')
  expect(llm.calls.length).toBe(before + 1)
  expect(llm.calls.at(-1)?.body.messages.at(-1)).toEqual({ role: 'user', content: 'hi' })
}, 30_000)

test('without a key: the job.failed callback is shown as a failure, with where to get a key', async () => {
  const before = llm.calls.length
  const run = await demo({})
  expect(run.code).toBe(1)
  expect(run.out).toContain('Hello! In one sentence, what is llm-relay?')
  expect(run.out).toContain('job.failed')
  expect(run.out).toContain('The job failed: llm_auth')
  expect(run.out).toContain('https://openrouter.ai/keys')
  expect(run.out).not.toContain('Answered and delivered')
  expect(run.out).not.toContain('the callback was answered with 2xx')
  expect(llm.calls.length).toBe(before)
}, 30_000)

test('an LLM that refuses the key: reported as failed, not as delivered', async () => {
  llm.next(() => Response.json({ error: { message: 'invalid key' } }, { status: 401 }))
  const run = await demo(withKey, 'refused')
  expect(run.code).toBe(1)
  expect(run.out).toContain('The job failed: llm_auth')
  expect(run.out).toContain('the job.failed callback is delivered')
  expect(run.out).not.toContain('Answered and delivered')
}, 30_000)

test('a strict RATE_LIMIT_MAX and a slow, failing LLM: the demo still follows every step (it never polls)', async () => {
  llm.latencyMs = 300
  llm.next(() => Response.json({ error: { message: 'busy' } }, { status: 503 }))
  try {
    const run = await demo(
      { ...withKey, RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW: '1h', LLM_RETRY_SCHEDULE: '200ms' },
      'patience',
    )
    expect(run.err).toBe('')
    expect(run.code).toBe(0)
    expect(run.out).toContain('asking fake/model (LLM attempt 1)')
    expect(run.out).toContain('llm_unavailable')
    expect(run.out).toContain('Trying again at')
    expect(run.out).toContain('asking fake/model (LLM attempt 2)')
    expect(run.out).toContain('echo: patience')
    expect(run.out).toContain('the receiver answered 200: delivered')
  } finally {
    llm.latencyMs = 0
  }
}, 30_000)

test('its hints use the command the quickstart used: npx when bun is not on PATH, else bun', async () => {
  const viaNpx = await demo({ PATH: dir })
  expect(viaNpx.out).toContain(`OPENROUTER_API_KEY=sk-or-… npx -y bun@${Bun.version} run demo`)
  expect(viaNpx.out).toContain(`npx -y bun@${Bun.version} run start`)
  const viaNpm = await demo({ npm_config_user_agent: 'npm/11.19.1 node/v20.20.2 linux x64 workspaces/false' })
  expect(viaNpm.out).toContain(`npx -y bun@${Bun.version} run demo`)
  const viaBun = await demo({})
  expect(viaBun.out).toContain('OPENROUTER_API_KEY=sk-or-… bun run demo')
  expect(viaBun.out).toContain('`bun run start`')
}, 30_000)

test('a bad setting stops the demo with the config error', async () => {
  const run = await demo({ LLM_TIMEOUT: 'soon' })
  expect(run.code).toBe(1)
  expect(run.out).toContain('LLM_TIMEOUT')
}, 30_000)

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startTestRelay, type TestRelay } from './support/relay.ts'

/** A local resolver: names map to scripted answers, one per lookup, the last one repeating. */
const lookups: string[] = []
const answers: Record<string, string[][]> = {
  'internal.test': [['10.0.0.5']],
  'mixed.test': [['93.184.215.14', '192.168.1.1']],
  'metadata.test': [['169.254.169.254']],
  'nowhere.test': [[]],
  // DNS rebinding: public when the relay accepts the job, loopback when it delivers.
  'rebind.test': [['93.184.215.14'], ['127.0.0.1']],
}
async function resolve(hostname: string): Promise<string[]> {
  lookups.push(hostname)
  const script = answers[hostname]
  if (!script) throw new Error(`unexpected lookup of ${hostname}`)
  return (script.length > 1 ? script.shift() : script[0]) ?? []
}

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay({ ALLOW_PRIVATE_CALLBACK_URLS: 'false' }, { resolve })
})
afterAll(() => relay.close())

async function refusedAtIntake(callbackUrl: string): Promise<string> {
  const before = relay.countJobs()
  const response = await relay.post({ message: 'hi', callback_url: callbackUrl })
  expect(response.status).toBe(422)
  const problem = (await response.json()) as { errors: { field: string; message: string }[] }
  expect(relay.countJobs()).toBe(before)
  const error = problem.errors.find((e) => e.field === '/callback_url')
  expect(error).toBeDefined()
  return error?.message ?? ''
}

describe('at intake', () => {
  test.each([
    ['http://127.0.0.1:9/x', 'loopback'],
    ['http://127.1/x', 'loopback'],
    ['http://2130706433/x', 'loopback'],
    ['http://0x7f000001/x', 'loopback'],
    ['http://[::1]/x', 'loopback'],
    ['http://[::ffff:127.0.0.1]/x', 'loopback'],
    ['http://169.254.169.254/latest/meta-data', 'cloud metadata'],
    ['http://10.1.2.3/x', 'private'],
    ['http://192.168.0.10/x', 'private'],
    ['http://100.64.0.1/x', 'carrier-grade NAT'],
    ['http://0.0.0.0/x', 'unspecified'],
    ['http://localhost:3000/x', 'localhost'],
    ['http://api.localhost./x', 'localhost'],
    ['http://internal.test/x', '10.0.0.5'],
    ['http://mixed.test/x', '192.168.1.1'],
    ['http://metadata.test/x', 'cloud metadata'],
    ['http://nowhere.test/x', 'does not resolve'],
  ])('%s is refused (%s)', async (url, reason) => {
    expect(await refusedAtIntake(url)).toContain(reason)
  })
})

test('a rebinding name accepted as public is refused at delivery, and nothing is sent', async () => {
  const response = await relay.post({ message: 'rebind me', callback_url: 'http://rebind.test/hook' })
  expect(response.status).toBe(202)
  const { id } = (await response.json()) as { id: string }
  const job = await relay.waitForStatus(id, 'dead')
  expect(job.deliveries).toHaveLength(1)
  expect(job.deliveries[0]?.error?.code).toBe('callback_forbidden')
  expect(job.deliveries[0]?.error?.message).toContain('127.0.0.1')
  expect(job.response).toBe('echo: rebind me')
  expect(lookups.filter((h) => h === 'rebind.test')).toHaveLength(2)
  expect(relay.sink.received).toHaveLength(0)
})

test('CALLBACK_ALLOWED_HOSTS narrows callbacks to known receivers, without a lookup', async () => {
  const narrow = await startTestRelay({ CALLBACK_ALLOWED_HOSTS: '.example.com,127.0.0.1' }, { resolve })
  try {
    const before = lookups.length
    const refused = await narrow.post({ message: 'hi', callback_url: 'https://example.com.evil.io/x' })
    expect(refused.status).toBe(422)
    expect(await refused.text()).toContain('CALLBACK_ALLOWED_HOSTS')
    expect(lookups.length).toBe(before)
    const ok = await narrow.send('allowed')
    await narrow.sink.waitForJob(ok.id)
  } finally {
    await narrow.close()
  }
})

test('ALLOW_PRIVATE_CALLBACK_URLS=true says so once at start', async () => {
  const open = await startTestRelay({ ALLOW_PRIVATE_CALLBACK_URLS: 'true' })
  try {
    expect(open.logs.filter((l) => l.includes('ALLOW_PRIVATE_CALLBACK_URLS is on'))).toHaveLength(1)
  } finally {
    await open.close()
  }
})

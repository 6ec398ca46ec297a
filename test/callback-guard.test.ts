import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

/** A local resolver: names map to scripted answers, one per lookup, the last one repeating. */
const lookups: string[] = []
const answers: Record<string, string[][]> = {
  'internal.test': [['10.0.0.5']],
  'mixed.test': [['93.184.215.14', '192.168.1.1']],
  'metadata.test': [['169.254.169.254']],
  'nowhere.test': [[]],
  // The resolver says these names do not exist (a verdict), or fails (no verdict: accepted).
  'nxdomain.test': [['!ENOTFOUND']],
  'flaky-refused.test': [['!EAI_AGAIN'], ['127.0.0.1']],
  // DNS rebinding: public when the relay accepts the job, loopback when it delivers.
  'rebind.test': [['93.184.215.14'], ['127.0.0.1']],
}
async function resolve(hostname: string): Promise<string[]> {
  lookups.push(hostname)
  const script = answers[hostname]
  if (!script) throw new Error(`unexpected lookup of ${hostname}`)
  const answer = (script.length > 1 ? script.shift() : script[0]) ?? []
  const code = answer[0]?.startsWith('!') ? answer[0].slice(1) : undefined
  if (code) throw Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code })
  return answer
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
    ['http://nxdomain.test/x', 'nxdomain.test does not exist (ENOTFOUND)'],
  ])('%s is refused (%s)', async (url, reason) => {
    expect(await refusedAtIntake(url)).toContain(reason)
  })

  test.each([['http://127.0.0.1:9/x'], ['http://localhost:3000/x'], ['http://internal.test/x']])(
    'refusing %s names the setting that allows it for development',
    async (url) => {
      expect(await refusedAtIntake(url)).toContain(
        'ALLOW_PRIVATE_CALLBACK_URLS=true allows it for local development',
      )
    },
  )
})

describe('a resolver that fails is no verdict: the webhook is accepted, and delivery decides', () => {
  test.each(['EAI_AGAIN', 'ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED', 'EAI_FAIL'])(
    'intake lookup fails with %s: 202, and the job is kept',
    async (code) => {
      const host = `${code.toLowerCase().replaceAll('_', '-')}.test`
      answers[host] = [[`!${code}`]]
      const before = relay.countJobs()
      const response = await relay.post({ message: 'hi', callback_url: `http://${host}/hook` })
      expect(response.status).toBe(202)
      expect(relay.countJobs()).toBe(before + 1)
    },
  )

  test('delivery looks again: a name that now resolves to loopback ends dead, with nothing sent', async () => {
    const response = await relay.post({ message: 'flaky', callback_url: 'http://flaky-refused.test/hook' })
    expect(response.status).toBe(202)
    const { id } = (await response.json()) as { id: string }
    const job = await relay.waitForStatus(id, 'dead')
    expect(job.deliveries[0]?.error?.code).toBe('callback_forbidden')
    expect(lookups.filter((h) => h === 'flaky-refused.test')).toHaveLength(2)
    expect(relay.sink.received).toHaveLength(0)
  })

  test('a resolver that does not answer holds the 202 up for two seconds at most', async () => {
    const clock = new ManualClock()
    let asked = 0
    const silent = await startTestRelay(
      {},
      {
        clock,
        // Silent at intake; at delivery, an answer that ends the job (so the relay can stop).
        resolve: async (hostname) => {
          if (++asked === 1) return new Promise<string[]>(() => {})
          throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
        },
      },
    )
    try {
      const posting = silent.post({ message: 'hi', callback_url: 'https://hooks.example.com/hook' })
      await eventually(async () => asked === 1, 'the intake lookup')
      await clock.advance(2000)
      const response = await posting
      expect(response.status).toBe(202)
      const { id } = (await response.json()) as { id: string }
      expect((await silent.waitForStatus(id, 'dead')).deliveries[0]?.error?.message).toContain(
        'does not exist',
      )
    } finally {
      await silent.close()
    }
  })

  test('with private callbacks allowed, a name that fails at intake and resolves at delivery is delivered', async () => {
    const flaky: string[][] = [['!EAI_AGAIN']]
    const local = await startTestRelay(
      { ALLOW_PRIVATE_CALLBACK_URLS: 'true' },
      {
        resolve: async (hostname) => {
          const answer = flaky.shift() ?? ['127.0.0.1']
          if (answer[0] === '!EAI_AGAIN')
            throw Object.assign(new Error(`getaddrinfo EAI_AGAIN ${hostname}`), { code: 'EAI_AGAIN' })
          return answer
        },
      },
    )
    try {
      const port = new URL(local.sink.url).port
      const response = await local.post({ message: 'later', callback_url: `http://sink.test:${port}/hook` })
      expect(response.status).toBe(202)
      const { id } = (await response.json()) as { id: string }
      await local.sink.waitForJob(id)
      expect((await local.waitForStatus(id, 'delivered')).attempts.delivery).toBe(1)
    } finally {
      await local.close()
    }
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

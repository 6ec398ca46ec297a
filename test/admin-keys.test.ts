import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type ConfigError, parseConfig } from '../src/config/config.ts'
import { describeConfig } from '../src/config/describe.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'

const ADMIN = 'ops-key-0123456789abcdefghij'

describe('ADMIN_API_KEYS', () => {
  test('reads like API_KEYS, named or not, and is masked as a secret', () => {
    const config = parseConfig({ ADMIN_API_KEYS: `ops:${ADMIN}, unnamed-0123456789abcdef` })
    expect(config.adminApiKeys).toEqual([
      { name: 'ops', key: ADMIN, named: true },
      { name: 'admin2', key: 'unnamed-0123456789abcdef', named: false },
    ])
    expect(describeConfig(config).ADMIN_API_KEYS).toBe('***')
    expect(describeConfig(parseConfig({})).ADMIN_API_KEYS).toBe('')
    expect(() => parseConfig({ ADMIN_API_KEYS: 'short' })).toThrow(/ADMIN_API_KEYS: entry 1 is shorter/)
  })

  test('a key or a name in both lists is refused: an operator and a client would be one owner', () => {
    const problems = (env: Record<string, string>) => {
      try {
        parseConfig(env)
        return []
      } catch (error) {
        return (error as ConfigError).problems
      }
    }
    expect(problems({ API_KEYS: `shop:${ADMIN}`, ADMIN_API_KEYS: `ops:${ADMIN}` })).toEqual([
      'ADMIN_API_KEYS: the key named ops is also in API_KEYS; give operators keys of their own',
    ])
    expect(problems({ API_KEYS: 'ops:client-key-0123456789abcdef', ADMIN_API_KEYS: `ops:${ADMIN}` })).toEqual(
      ["ADMIN_API_KEYS: the name ops is also a client's in API_KEYS"],
    )
    expect(
      problems({ API_KEYS: 'shop:client-key-0123456789abcdef', ADMIN_API_KEYS: `ops:${ADMIN}` }),
    ).toEqual([])
  })
})

describe('a relay with only admin keys', () => {
  let relay: TestRelay
  beforeAll(async () => {
    relay = await startTestRelay({ ADMIN_API_KEYS: `ops:${ADMIN}` })
  })
  afterAll(() => relay.close())

  test('is closed to requests without a key, and open to the admin key on every route', async () => {
    expect((await relay.post({ message: 'hi', callback_url: `${relay.sink.url}/hook` })).status).toBe(401)
    expect((await fetch(`${relay.url}/jobs`)).status).toBe(401)
    const auth = { authorization: `Bearer ${ADMIN}` }
    const accepted = await relay.post({ message: 'hi', callback_url: `${relay.sink.url}/hook` }, auth)
    expect(accepted.status).toBe(202)
    const { id } = (await accepted.json()) as { id: string }
    expect((await fetch(`${relay.url}/jobs/${id}`, { headers: auth })).status).toBe(200)
    const page = (await (await fetch(`${relay.url}/jobs`, { headers: auth })).json()) as {
      data: { owner: string }[]
    }
    expect(page.data.map((j) => j.owner)).toEqual(['ops'])
    expect(relay.logs.join('')).not.toContain(ADMIN)
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { isUsableHost } from '../src/http/status-url.ts'
import { rawPost, rawRequest } from './support/raw-http.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay()
})
afterAll(() => relay.close())

const body = () => ({ message: 'hi', callback_url: `${relay.sink.url}/hook` })

describe('a Host the relay cannot use still gets its 202, with a relative status_url', () => {
  const cases: [string, string | null, '1.0' | '1.1'][] = [
    ['a space in it', 'a b', '1.1'],
    ['empty', '', '1.1'],
    ['a port past 65535', 'x:99999', '1.1'],
    ['an unclosed IPv6 bracket', '[::1', '1.1'],
    ['a percent sign', '%', '1.1'],
    ['HTTP/1.0 without Host', null, '1.0'],
  ]
  for (const [name, host, version] of cases) {
    test(`${name} → 202, one job, status_url /jobs/{id}`, async () => {
      const before = relay.countJobs()
      const response = await rawRequest(relay.url, rawPost('/webhook', body(), { host, version }))
      expect(response.status).toBe(202)
      const accepted = JSON.parse(response.body) as { id: string; status_url: string }
      expect(accepted.status_url).toBe(`/jobs/${accepted.id}`)
      expect(response.headers.get('location')).toBe(`/jobs/${accepted.id}`)
      expect(relay.countJobs()).toBe(before + 1)
      await relay.waitForStatus(accepted.id, 'delivered')
    })
  }

  test('a usable Host is used as sent', async () => {
    const response = await rawRequest(relay.url, rawPost('/webhook', body(), { host: 'relay.internal:8080' }))
    expect(response.status).toBe(202)
    const accepted = JSON.parse(response.body) as { id: string; status_url: string }
    expect(accepted.status_url).toBe(`http://relay.internal:8080/jobs/${accepted.id}`)
    await relay.waitForStatus(accepted.id, 'delivered')
  })
})

test('an unusable Host changes nothing about which routes need a key', async () => {
  const KEY = 'status-url-key-0123456789'
  const keyed = await startTestRelay({ API_KEYS: KEY })
  try {
    const get = (path: string, extra = '') =>
      rawRequest(keyed.url, `GET ${path} HTTP/1.1\r\nHost: a b\r\n${extra}Connection: close\r\n\r\n`)
    const health = await get('/health')
    expect(health.status).toBe(200)
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' })
    expect((await get('/jobs/x')).status).toBe(401)
    expect((await get('/jobs/x', `Authorization: Bearer ${KEY}\r\n`)).status).toBe(404)
  } finally {
    await keyed.close()
  }
})

test('with PUBLIC_URL every status_url starts with it, whatever Host says', async () => {
  const fixed = await startTestRelay({ PUBLIC_URL: 'https://relay.example.com/base/' })
  try {
    const payload = { message: 'hi', callback_url: `${fixed.sink.url}/hook` }
    for (const host of ['evil.example:666', 'a b', null]) {
      const response = await rawRequest(
        fixed.url,
        rawPost('/webhook', payload, { host, version: host === null ? '1.0' : '1.1' }),
      )
      expect(response.status).toBe(202)
      const accepted = JSON.parse(response.body) as { id: string; status_url: string }
      expect(accepted.status_url).toBe(`https://relay.example.com/base/jobs/${accepted.id}`)
      await fixed.waitForStatus(accepted.id, 'delivered')
    }
  } finally {
    await fixed.close()
  }
})

test('isUsableHost takes names, IP literals and ports, and nothing else', () => {
  for (const good of [
    'localhost',
    'relay.example.com',
    'relay.example.com.',
    'llm_relay:3000',
    '127.0.0.1',
    '127.0.0.1:65535',
    '[::1]',
    '[2001:db8::1]:8443',
  ])
    expect({ good, usable: isUsableHost(good) }).toEqual({ good, usable: true })
  for (const bad of [
    '',
    'a b',
    'x:99999',
    'x:0',
    'x:',
    ':80',
    '[::1',
    '[::1]x',
    '[fe80::1%eth0]',
    '::1',
    '%',
    'a%2fb',
    'évil.example',
    '999.1.1.1',
    'a..b',
    '-a.example',
    'user@host',
    'host/path',
    `${'a'.repeat(64)}.example`,
  ])
    expect({ bad, usable: isUsableHost(bad) }).toEqual({ bad, usable: false })
})

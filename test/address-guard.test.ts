import { afterAll, describe, expect, test } from 'bun:test'
import {
  AddressGuard,
  type AddressGuardOptions,
  classifyAddress,
  DnsLookupError,
  isLocalhostName,
  parseHostLiteral,
  systemResolver,
} from '../src/delivery/address-guard.ts'
import { fetchPinned, PinnedAgents } from '../src/delivery/pinned-fetch.ts'
import { RememberedVerdicts } from '../src/delivery/remembered-verdicts.ts'
import { ManualClock } from './support/manual-clock.ts'

// Self-signed for rebind.test, valid until 2126; trusted by nothing, so a TLS handshake must fail.
const selfSignedCertificate = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUK5Q5U+BcnpffuInCkKocOyIz7UcwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLcmViaW5kLnRlc3QwIBcNMjYxMTI1MTcxMTE2WhgPMjEyNjEx
MDExNzExMTZaMBYxFDASBgNVBAMMC3JlYmluZC50ZXN0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEpV4UEHeNcvwcEHOOBw9+WdOt5QWnaUm7MfWETGNW6+szvJMT
We4/6nVBuN4QuB5F6HxfrEqdCP4LUVDHEwWf2aNrMGkwHQYDVR0OBBYEFLg+rheo
dMZTCalnfM6fXBy+khyDMB8GA1UdIwQYMBaAFLg+rheodMZTCalnfM6fXBy+khyD
MA8GA1UdEwEB/wQFMAMBAf8wFgYDVR0RBA8wDYILcmViaW5kLnRlc3QwCgYIKoZI
zj0EAwIDSAAwRQIgZi0ZwqV9lMPFP3VO5GZ1+0fcp88qeEg6pH8QsQFBUQoCIQCt
5XuPlOGx0hu3OA896RMZ8nc9dwuvqdX6DAK3gxAQYg==
-----END CERTIFICATE-----
`
const selfSignedKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZJCUazm4PLEEtc85
uyBNlxGynfpSkFM2RuiVJq6dFCqhRANCAASlXhQQd41y/BwQc44HD35Z063lBadp
Sbsx9YRMY1br6zO8kxNZ7j/qdUG43hC4HkXofF+sSp0I/gtRUMcTBZ/Z
-----END PRIVATE KEY-----
`

// Literals must be judged without DNS; any lookup fails the test loudly.
const noLookups = async (hostname: string): Promise<string[]> => {
  throw new Error(`unexpected lookup of ${hostname}`)
}

const guardWith = (options: Partial<AddressGuardOptions> = {}) =>
  new AddressGuard({ allowPrivate: false, allowedHosts: [], resolve: noLookups, ...options })

const failingWith = (code: string | undefined) => async (): Promise<string[]> => {
  throw Object.assign(new Error(`getaddrinfo ${code}`), { code })
}

const resolvingTo =
  (...addresses: string[]) =>
  async () =>
    addresses

describe('the address guard refuses', () => {
  const refusedHosts: [host: string, reason: string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['017700000001', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['127.0.0.1.', 'loopback'],
    ['127.0.0.1..', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['localhost', 'localhost name'],
    ['LOCALHOST.', 'localhost name'],
    ['foo.localhost', 'localhost name'],
    ['foo.localhost..', 'localhost name'],
    ['.', 'empty host'],
    ['[::1]', 'loopback'],
    ['[::ffff:127.0.0.1]', 'loopback (IPv4-mapped 127.0.0.1)'],
    ['[::ffff:7f00:1]', 'loopback (IPv4-mapped 127.0.0.1)'],
    ['[::127.0.0.1]', 'loopback (IPv4-compatible'],
    ['[::8.8.8.8]', 'IPv4-compatible (deprecated)'],
    ['[64:ff9b::a9fe:a9fe]', 'cloud metadata (NAT64 169.254.169.254)'],
    ['[64:ff9b::10.0.0.1]', 'private (RFC 1918) (NAT64 10.0.0.1)'],
    ['[64:ff9b:1::808:808]', 'NAT64 local-use'],
    ['[2002:a00:1::1]', 'private (RFC 1918) (6to4 10.0.0.1)'],
    ['[2002:7f00:1::]', 'loopback (6to4 127.0.0.1)'],
    ['[fe80::1]', 'IPv6 link-local'],
    ['[febf:ffff::1]', 'IPv6 link-local'],
    ['[fec0::1]', 'IPv6 site-local'],
    ['[fc00::1]', 'IPv6 unique-local'],
    ['[fdff:ffff::1]', 'IPv6 unique-local'],
    ['[fd00:ec2::254]', 'cloud metadata'],
    ['[ff02::1]', 'multicast'],
    ['[2001:db8::1]', 'documentation'],
    ['[3fff::1]', 'documentation'],
    ['[100::1]', 'discard-only'],
    ['[2001::1]', 'Teredo'],
    ['[2001:10::1]', 'ORCHID'],
    ['[2001:2::1]', 'benchmarking'],
    ['[2001:1ff::1]', 'IETF protocol assignments'],
    ['[::]', 'unspecified'],
    ['[::2:1]', 'unspecified (IPv4-compatible 0.2.0.1)'],
    ['[4000::1]', 'reserved'],
    ['0.0.0.0', 'unspecified'],
    ['0', 'unspecified'],
    ['169.254.169.254', 'cloud metadata'],
    ['169.254.1.1', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['100.100.100.200', 'carrier-grade NAT'],
    ['10.0.0.1', 'private (RFC 1918)'],
    ['10.255.255.255', 'private (RFC 1918)'],
    ['172.16.0.1', 'private (RFC 1918)'],
    ['172.31.255.255', 'private (RFC 1918)'],
    ['192.168.1.1', 'private (RFC 1918)'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['192.88.99.1', '6to4 relay anycast'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
  ]

  test.each(refusedHosts)('http://%s/ (%s)', async (host, reason) => {
    const check = await guardWith().check(`http://${host}/callback`)
    expect(check.ok).toBe(false)
    if (!check.ok) expect(check.reason).toContain(reason)
  })

  test('a name that resolves to a private address, naming it', async () => {
    const check = await guardWith({ resolve: resolvingTo('10.0.0.5') }).check('https://hooks.example.com/in')
    expect(check).toEqual({
      ok: false,
      reason:
        'hooks.example.com resolves to 10.0.0.5 (private (RFC 1918)); ALLOW_PRIVATE_CALLBACK_URLS=true allows it for local development',
    })
  })

  test('a name that resolves to public and private addresses alike', async () => {
    const guard = guardWith({
      resolve: resolvingTo('93.184.215.14', '2606:4700:4700::1111', '::ffff:127.0.0.1'),
    })
    const check = await guard.check('https://hooks.example.com/in')
    expect(check.ok).toBe(false)
    if (!check.ok) expect(check.reason).toContain('resolves to ::ffff:127.0.0.1 (loopback')
  })

  test('a name that resolves to nothing', async () => {
    const check = await guardWith({ resolve: resolvingTo() }).check('https://gone.example.com/in')
    expect(check).toEqual({ ok: false, reason: 'gone.example.com does not resolve' })
  })

  test.each(['ENOTFOUND', 'ENODATA', 'NXDOMAIN'])(
    'a name the resolver says does not exist (%s)',
    async (code) => {
      const check = await guardWith({ resolve: failingWith(code) }).check('https://gone.example.com/in')
      expect(check).toEqual({ ok: false, reason: `gone.example.com does not exist (${code})` })
    },
  )

  test('a refused address names the setting that allows it for development', async () => {
    for (const url of ['http://127.0.0.1:3000/hook', 'http://localhost/hook', 'http://10.0.0.1/']) {
      const check = await guardWith().check(url)
      expect(check.ok).toBe(false)
      if (!check.ok)
        expect(check.reason).toEndWith('ALLOW_PRIVATE_CALLBACK_URLS=true allows it for local development')
    }
  })

  test('a resolved link-local address with a zone id', async () => {
    const check = await guardWith({ resolve: resolvingTo('fe80::1%eth0') }).check(
      'http://printer.example.com/',
    )
    expect(check.ok).toBe(false)
  })

  test('schemes other than http and https, and what is not a URL', async () => {
    for (const url of ['ftp://8.8.8.8/', 'file:///etc/passwd', 'gopher://8.8.8.8/', 'not a url']) {
      expect((await guardWith().check(url)).ok).toBe(false)
    }
  })
})

describe('the address guard allows', () => {
  // Parsed only: nothing here is ever connected to.
  const publicHosts: [host: string, address: string, family: 4 | 6][] = [
    ['93.184.215.14', '93.184.215.14', 4],
    ['8.8.8.8', '8.8.8.8', 4],
    ['[2606:4700:4700::1111]', '2606:4700:4700::1111', 6],
    ['[::ffff:8.8.8.8]', '::ffff:808:808', 6],
    ['[64:ff9b::8.8.8.8]', '64:ff9b::808:808', 6],
    ['[2002:808:808::1]', '2002:808:808::1', 6],
    ['172.15.255.255', '172.15.255.255', 4],
    ['172.32.0.0', '172.32.0.0', 4],
    ['100.63.255.255', '100.63.255.255', 4],
    ['100.128.0.0', '100.128.0.0', 4],
    ['198.20.0.1', '198.20.0.1', 4],
    ['223.255.255.255', '223.255.255.255', 4],
  ]

  test.each(publicHosts)('http://%s/ → %s', async (host, address, family) => {
    expect(await guardWith().check(`http://${host}:8080/callback`)).toEqual({ ok: true, address, family })
  })

  test('a name resolving only to public addresses, connecting to the first', async () => {
    let asked = ''
    const resolve = async (hostname: string) => {
      asked = hostname
      return ['2606:4700:4700::1111', '93.184.215.14']
    }
    const check = await guardWith({ resolve }).check('https://Hooks.Example.COM./in')
    expect(check).toEqual({ ok: true, address: '2606:4700:4700::1111', family: 6 })
    expect(asked).toBe('hooks.example.com')
  })

  test('loopback, localhost and private names when allowPrivate is on, still pinned', async () => {
    const guard = guardWith({ allowPrivate: true, resolve: resolvingTo('127.0.0.1', '10.0.0.5') })
    expect(await guard.check('http://127.0.0.1:3000/cb')).toEqual({
      ok: true,
      address: '127.0.0.1',
      family: 4,
    })
    expect(await guard.check('http://[::1]:3000/cb')).toEqual({ ok: true, address: '::1', family: 6 })
    expect(await guard.check('http://localhost:3000/cb')).toEqual({
      ok: true,
      address: '127.0.0.1',
      family: 4,
    })
    expect(
      (await guardWith({ allowPrivate: true, resolve: resolvingTo() }).check('http://gone.test/')).ok,
    ).toBe(false)
  })
})

test('a resolver failure is not a refusal: check rejects so delivery can retry', async () => {
  const failing = async (): Promise<string[]> => {
    throw Object.assign(new Error('queryA ETIMEOUT'), { code: 'ETIMEOUT' })
  }
  await expect(guardWith({ resolve: failing }).check('https://hooks.example.com/')).rejects.toThrow(
    'ETIMEOUT',
  )
})

describe('CALLBACK_ALLOWED_HOSTS narrows delivery', () => {
  const guard = guardWith({
    allowedHosts: ['.example.com', 'Hooks.Partner.io.'],
    resolve: resolvingTo('93.184.215.14'),
  })

  test.each(['a.example.com', 'deep.a.example.com', 'hooks.partner.io', 'HOOKS.PARTNER.IO.'])(
    'allows %s',
    async (host) => {
      expect((await guard.check(`https://${host}/in`)).ok).toBe(true)
    },
  )

  test.each([
    'example.com.evil.io',
    'evilexample.com',
    'example.com',
    'evilhooks.partner.io',
    'partner.io',
    '8.8.8.8',
  ])('refuses %s', async (host) => {
    expect(await guard.check(`https://${host}/in`)).toEqual({
      ok: false,
      reason: 'host not in CALLBACK_ALLOWED_HOSTS',
    })
  })
})

describe('spellings', () => {
  test.each([
    ['127.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0X7F000001', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0x7f.0.0.01', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['127.0.0.1.', '127.0.0.1'],
    ['0', '0.0.0.0'],
    ['0x', '0.0.0.0'],
    ['0xa9.0xfe.0xa9.0xfe', '169.254.169.254'],
    ['[::1]', '::1'],
    ['::FFFF:127.0.0.1', '::ffff:7f00:1'],
    ['[0:0:0:0:0:0:0:1]', '::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
  ])('%s is the literal %s', (hostname, canonical) => {
    expect(parseHostLiteral(hostname)).toBe(canonical)
  })

  test.each(['example.com', '08', '256.0.0.1', '1.2.3.4.5', '4294967296', '1..2', '', '[example.com]'])(
    '%s is not a literal',
    (hostname) => {
      expect(parseHostLiteral(hostname)).toBeUndefined()
    },
  )

  test('localhost names', () => {
    for (const name of ['localhost', 'LocalHost', 'localhost.', 'a.b.localhost...', '', '...']) {
      expect(isLocalhostName(name)).toBe(true)
    }
    for (const name of ['localhost.example.com', 'notlocalhost', 'localhostx'])
      expect(isLocalhostName(name)).toBe(false)
  })

  test('classifyAddress refuses what is not an address and names scoped addresses link-local', () => {
    expect(classifyAddress('example.com')).toBe('not an IP address')
    expect(classifyAddress('127.1')).toBe('not an IP address')
    expect(classifyAddress('2606:4700:4700::1111%eth0')).toBe('IPv6 link-local')
    expect(classifyAddress('2606:4700:4700::1111')).toBeUndefined()
  })
})

test('systemResolver answers every address of a name from the hosts file', async () => {
  const addresses = await systemResolver()('localhost')
  expect(addresses.length).toBeGreaterThan(0)
  for (const address of addresses) expect(['127.0.0.1', '::1']).toContain(address)
})

describe('fetchPinned', () => {
  let followed = 0
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request): Promise<Response> {
      const { pathname } = new URL(request.url)
      if (pathname === '/redirect')
        return new Response(null, {
          status: 302,
          headers: { location: `http://127.0.0.1:${server.port}/followed` },
        })
      if (pathname === '/followed') followed++
      if (pathname === '/slow') await Bun.sleep(2000)
      return Response.json({
        method: request.method,
        host: request.headers.get('host'),
        signature: request.headers.get('webhook-signature'),
        body: await request.text(),
      })
    },
  })
  const tlsServer = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    tls: { cert: selfSignedCertificate, key: selfSignedKey },
    fetch: () => new Response('must not be reached'),
  })
  afterAll(() => {
    server.stop(true)
    tlsServer.stop(true)
  })

  test('connects to the pinned address and keeps the Host header, with no DNS lookup', async () => {
    // rebind.test does not resolve (RFC 6761 .test): reaching the server proves no lookup was made.
    const response = await fetchPinned(`http://rebind.test:${server.port}/x`, '127.0.0.1', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-signature': 'v1,abc' },
      body: '{"hello":"wörld"}',
      timeoutMs: 2000,
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      method: 'POST',
      host: `rebind.test:${server.port}`,
      signature: 'v1,abc',
      body: '{"hello":"wörld"}',
    })
  })

  test('with agents, requests to one name and checked address share a kept-alive connection', async () => {
    const { createServer } = await import('node:http')
    let connections = 0
    const counting = createServer((request, response) => {
      request.resume()
      request.on('end', () => response.end('ok'))
    })
    counting.on('connection', () => connections++)
    await new Promise<void>((resolve) => counting.listen(0, '127.0.0.1', resolve))
    const port = (counting.address() as { port: number }).port
    const agents = new PinnedAgents()
    try {
      for (let i = 0; i < 5; i++) {
        const response = await fetchPinned(`http://rebind.test:${port}/hook/${i}`, '127.0.0.1', {
          method: 'POST',
          body: `{"n":${i}}`,
          timeoutMs: 2000,
          agents,
        })
        expect(await response.text()).toBe('ok')
      }
      expect(connections).toBe(1)
      // Without agents every request has a connection of its own.
      for (let i = 0; i < 2; i++)
        await (await fetchPinned(`http://rebind.test:${port}/`, '127.0.0.1', { timeoutMs: 2000 })).text()
      expect(connections).toBe(3)
      // Another checked address for the same name is another agent: never the old connection.
      const url = new URL(`http://rebind.test:${port}/`)
      expect(agents.for(url, '127.0.0.1')).toBe(agents.for(url, '127.0.0.1'))
      expect(agents.for(url, '127.0.0.2')).not.toBe(agents.for(url, '127.0.0.1'))
      expect(agents.size).toBe(2)
    } finally {
      agents.close()
      counting.close()
    }
  })

  test('an agent keeps `idle` connections open between bursts: 16 at once twice open 16, not 24', async () => {
    const { createServer } = await import('node:http')
    let connections = 0
    // Each answer waits for the whole burst to arrive, so the 16 requests run at once.
    let arrived = 0
    let release: () => void = () => {}
    let burst = new Promise<void>((resolve) => {
      release = resolve
    })
    const counting = createServer((request, response) => {
      request.resume()
      if (++arrived % 16 === 0) release()
      void burst.then(() => response.end('ok'))
    })
    counting.on('connection', () => connections++)
    await new Promise<void>((resolve) => counting.listen(0, '127.0.0.1', resolve))
    const port = (counting.address() as { port: number }).port
    const twoBursts = async (agents: PinnedAgents): Promise<number> => {
      const before = connections
      for (let round = 0; round < 2; round++) {
        const sent = Array.from({ length: 16 }, async (_, i) => {
          const url = `http://burst.test:${port}/hook/${i}`
          const response = await fetchPinned(url, '127.0.0.1', {
            method: 'POST',
            body: '{}',
            timeoutMs: 2000,
            agents,
          })
          return response.text()
        })
        expect(await Promise.all(sent)).toEqual(Array(16).fill('ok'))
        burst = new Promise<void>((resolve) => {
          release = resolve
        })
      }
      return connections - before
    }
    const sixteen = new PinnedAgents({ idle: 16 })
    const eight = new PinnedAgents({ idle: 8 })
    try {
      expect(await twoBursts(sixteen)).toBe(16)
      expect(await twoBursts(eight)).toBe(24)
    } finally {
      sixteen.close()
      eight.close()
      counting.close()
    }
  })

  test('PinnedAgents keeps at most `max` agents, closing the least recently used', () => {
    const agents = new PinnedAgents({ max: 2 })
    const url = new URL('https://hooks.example.com/')
    const a = agents.for(url, '93.184.215.14')
    agents.for(url, '93.184.215.15')
    agents.for(url, '93.184.215.14')
    agents.for(url, '93.184.215.16')
    expect(agents.size).toBe(2)
    expect(agents.for(url, '93.184.215.14')).toBe(a)
    agents.close()
    expect(agents.size).toBe(0)
  })

  test('returns a redirect as is, never following it', async () => {
    const response = await fetchPinned(`http://rebind.test:${server.port}/redirect`, '127.0.0.1', {
      method: 'POST',
      body: '{}',
      timeoutMs: 2000,
    })
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBe(`http://127.0.0.1:${server.port}/followed`)
    await Bun.sleep(50)
    expect(followed).toBe(0)
  })

  test('gives up with a TimeoutError when the callback is slow', async () => {
    const started = performance.now()
    const failure = await fetchPinned(`http://rebind.test:${server.port}/slow`, '127.0.0.1', {
      method: 'POST',
      body: '{}',
      timeoutMs: 100,
    }).catch((error: Error) => error)
    expect(failure).toBeInstanceOf(Error)
    expect((failure as Error).name).toBe('TimeoutError')
    expect(performance.now() - started).toBeLessThan(1500)
  })

  test('keeps certificate validation for https to a pinned address', async () => {
    const failure = await fetchPinned(`https://rebind.test:${tlsServer.port}/`, '127.0.0.1', {
      method: 'POST',
      body: '{}',
      timeoutMs: 2000,
    }).catch((error: Error) => error)
    expect(failure).toBeInstanceOf(Error)
    expect(String((failure as NodeJS.ErrnoException).code)).toMatch(/CERT|SELF_SIGNED/)
  })

  test('refuses to connect to something that is not an address', async () => {
    await expect(fetchPinned('http://rebind.test/', 'rebind.test', { timeoutMs: 100 })).rejects.toThrow(
      TypeError,
    )
  })
})

describe('a lookup that fails is no verdict', () => {
  test.each(['EAI_AGAIN', 'ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED', 'EAI_FAIL', 'ECANCELLED', undefined])(
    'the resolver fails with %p: the guard rejects with DnsLookupError, naming host and code',
    async (code) => {
      const checking = guardWith({ resolve: failingWith(code) }).check('https://hooks.example.com/in')
      await expect(checking).rejects.toBeInstanceOf(DnsLookupError)
      await expect(checking).rejects.toMatchObject({
        name: 'DnsLookupError',
        hostname: 'hooks.example.com',
        code: code ?? 'no error code',
      })
    },
  )

  test('a resolver slower than the intake waits fails as a DNS timeout, and is asked again next time', async () => {
    const clock = new ManualClock()
    let asked = 0
    const guard = guardWith({
      resolve: () => {
        asked++
        return new Promise<string[]>(() => {})
      },
    })
    const verdicts = new RememberedVerdicts(guard, { ttlMs: 10_000, max: 10, waitMs: 2000, clock })
    const first = verdicts.check('https://slow.example.com/hook')
    let settled = false
    first
      .catch(() => {})
      .finally(() => {
        settled = true
      })
    await clock.advance(1999)
    expect(settled).toBe(false)
    await clock.advance(1)
    await expect(first).rejects.toMatchObject({ name: 'DnsLookupError', code: 'ETIMEOUT' })
    const second = verdicts.check('https://slow.example.com/hook')
    second.catch(() => {})
    expect(asked).toBe(2)
    expect(clock.timers).toBe(1)
    await clock.advance(2000)
    await expect(second).rejects.toThrow(DnsLookupError)
    expect(clock.timers).toBe(0)
  })
})

describe('RememberedVerdicts (the intake check, remembered)', () => {
  function counted(answers: Record<string, string[]>) {
    const asked: string[] = []
    const guard = new AddressGuard({
      allowPrivate: false,
      allowedHosts: [],
      resolve: async (name) => {
        asked.push(name)
        const found = answers[name]
        if (found === undefined) throw Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })
        return found
      },
    })
    return { guard, asked }
  }

  test('asks once per URL within the time to live, and again after it', async () => {
    const { guard, asked } = counted({ 'hooks.example.com': ['93.184.215.14'] })
    const clock = new ManualClock()
    const verdicts = new RememberedVerdicts(guard, { ttlMs: 10_000, max: 10, waitMs: 2000, clock })
    const url = 'https://hooks.example.com/hook'
    expect(await verdicts.check(url)).toEqual({ ok: true, address: '93.184.215.14', family: 4 })
    expect(await verdicts.check(url)).toEqual({ ok: true, address: '93.184.215.14', family: 4 })
    expect(asked).toEqual(['hooks.example.com'])
    await clock.advance(10_000)
    await verdicts.check(url)
    expect(asked).toEqual(['hooks.example.com', 'hooks.example.com'])
  })

  test('a refusal is remembered like an approval; a failed lookup is not', async () => {
    const { guard, asked } = counted({ 'inside.example.com': ['10.0.0.7'] })
    const verdicts = new RememberedVerdicts(guard, {
      ttlMs: 10_000,
      max: 10,
      waitMs: 2000,
      clock: new ManualClock(),
    })
    for (let i = 0; i < 2; i++)
      expect(await verdicts.check('https://inside.example.com/')).toMatchObject({ ok: false })
    expect(asked).toEqual(['inside.example.com'])
    for (let i = 0; i < 2; i++)
      await expect(verdicts.check('https://down.example.com/')).rejects.toThrow(DnsLookupError)
    expect(asked).toEqual(['inside.example.com', 'down.example.com', 'down.example.com'])
  })

  test('keeps at most `max` URLs, forgetting the oldest first', async () => {
    const { guard, asked } = counted({ a: ['93.184.215.14'], b: ['93.184.215.14'], c: ['93.184.215.14'] })
    const verdicts = new RememberedVerdicts(guard, {
      ttlMs: 10_000,
      max: 2,
      waitMs: 2000,
      clock: new ManualClock(),
    })
    for (const name of ['a', 'b', 'c', 'c', 'b', 'a']) await verdicts.check(`http://${name}/`)
    expect(asked).toEqual(['a', 'b', 'c', 'a'])
  })
})

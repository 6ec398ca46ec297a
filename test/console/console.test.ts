import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ConsoleClient } from '../support/console-client.ts'
import { ManualClock } from '../support/manual-clock.ts'
import { startTestRelay, type TestRelay } from '../support/relay.ts'

const ALICE = 'alice-key-0123456789abcdef'
const BOB = 'bob-key-0123456789abcdefgh'
const OPS = 'ops-admin-key-0123456789abcdef'

let relay: TestRelay
let aliceJob: { id: string; conversation_id: string }
let bobJob: { id: string; conversation_id: string }

async function send(key: string, message: string, conversation: string) {
  const response = await relay.post(
    { message, conversation_id: conversation, callback_url: `${relay.sink.url}/hook` },
    { authorization: `Bearer ${key}` },
  )
  expect(response.status).toBe(202)
  return (await response.json()) as { id: string; conversation_id: string }
}

const jobStatus = async (id: string): Promise<string> =>
  (
    (await (
      await fetch(`${relay.url}/jobs/${id}`, { headers: { authorization: `Bearer ${OPS}` } })
    ).json()) as {
      status: string
    }
  ).status

const until = async (id: string, status: string) => {
  for (let i = 0; i < 500 && (await jobStatus(id)) !== status; i++) await Bun.sleep(10)
  expect(await jobStatus(id)).toBe(status)
}

beforeAll(async () => {
  relay = await startTestRelay({ API_KEYS: `alice:${ALICE},bob:${BOB}`, ADMIN_API_KEYS: `ops:${OPS}` })
  aliceJob = await send(ALICE, 'alice asks about her order', 'alice-chat')
  bobJob = await send(BOB, 'bob asks about his invoice', 'bob-chat')
  await until(aliceJob.id, 'delivered')
  await until(bobJob.id, 'delivered')
})
afterAll(() => relay.close())

describe('signing in', () => {
  test('without a session every page leads to the sign-in form, which sets a strict cookie', async () => {
    const first = await fetch(`${relay.url}/console`, { redirect: 'manual' })
    const cookie = first.headers.get('set-cookie') ?? ''
    for (const part of ['HttpOnly', 'SameSite=Strict', 'Path=/console', 'Max-Age=43200'])
      expect(cookie).toContain(part)
    const visitor = new ConsoleClient(relay.url)
    for (const path of ['/console', '/console/jobs', `/console/jobs/${aliceJob.id}`, '/console/dead']) {
      const response = await visitor.get(path)
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toBe('/console/sign-in')
    }
    expect((await visitor.get('/console/sign-in')).status).toBe(200)
    expect(cookie).not.toContain('Secure')
  })

  test('a wrong key is refused and shows nothing; a right one starts a new session', async () => {
    const visitor = new ConsoleClient(relay.url)
    await visitor.page('/console/sign-in')
    const before = visitor.cookie
    const wrong = await visitor.post('/console/sign-in', { key: 'not-a-key-0123456789abcdef' })
    expect(wrong.status).toBe(401)
    expect(await wrong.text()).toContain('That key is not valid.')
    expect((await visitor.get('/console/jobs')).status).toBe(303)
    const right = await visitor.post('/console/sign-in', { key: ALICE })
    expect(right.status).toBe(303)
    expect(right.headers.get('location')).toBe('/console')
    // A fresh session: the visitor's cookie (and any token bound to it) no longer signs anything in.
    expect(visitor.cookie).not.toBe(before)
    expect(visitor.cookie).not.toContain(ALICE)
    const page = await visitor.page('/console/jobs')
    expect(page.status).toBe(200)
    expect(page.html).toContain('alice · client')
  })

  test('signing out ends the session', async () => {
    const alice = new ConsoleClient(relay.url)
    await alice.signIn(ALICE)
    const out = await alice.post('/console/sign-out')
    expect(out.status).toBe(303)
    expect(out.headers.get('location')).toBe('/console/sign-in')
    expect((await alice.get('/console/jobs')).status).toBe(303)
  })

  test('an htmx poll without a session is told to load the sign-in page as a whole', async () => {
    const response = await new ConsoleClient(relay.url).get('/console/jobs/rows', { 'hx-request': 'true' })
    expect(response.status).toBe(200)
    expect(response.headers.get('hx-redirect')).toBe('/console/sign-in')
  })
})

describe('stored clients', () => {
  test('a stored client signs in with its key; rotating or disabling the key ends its sessions', async () => {
    const relayWithClients = await startTestRelay({
      ADMIN_API_KEYS: `ops:${OPS}`,
      DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
    })
    const api = (method: string, path: string, key: string, body?: unknown) =>
      fetch(`${relayWithClients.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    try {
      const created = (await (await api('POST', '/clients', OPS, { name: 'acme' })).json()) as {
        id: string
        api_key: string
      }
      const job = (await (
        await api('POST', '/webhook', created.api_key, {
          message: 'from a stored client',
          callback_url: `${relayWithClients.sink.url}/hook`,
        })
      ).json()) as { id: string }
      const acme = new ConsoleClient(relayWithClients.url)
      expect((await acme.signIn(created.api_key)).status).toBe(303)
      const list = await acme.page('/console/jobs')
      expect(list.html).toContain('acme · client')
      expect(list.html).toContain(job.id)
      // A new key: the old one's session is over, the new one signs in.
      const rotated = (await (await api('POST', `/clients/${created.id}/rotate-key`, OPS)).json()) as {
        api_key: string
      }
      expect((await acme.get('/console/jobs')).status).toBe(303)
      expect((await acme.signIn(rotated.api_key)).status).toBe(303)
      expect((await acme.get('/console/jobs')).status).toBe(200)
      expect((await api('PATCH', `/clients/${created.id}`, OPS, { disabled: true })).status).toBe(200)
      expect((await acme.get('/console/jobs')).status).toBe(303)
      const again = new ConsoleClient(relayWithClients.url)
      expect((await again.signIn(rotated.api_key)).status).toBe(401)
    } finally {
      await relayWithClients.close()
    }
  })
})

describe('sessions end', () => {
  test('a sign-in lasts CONSOLE_SESSION_TTL, then the sign-in form comes back', async () => {
    const clock = new ManualClock(Date.now())
    const timed = await startTestRelay({ API_KEYS: `alice:${ALICE}`, CONSOLE_SESSION_TTL: '1h' }, { clock })
    try {
      const alice = new ConsoleClient(timed.url)
      await alice.signIn(ALICE)
      await clock.advance(59 * 60_000)
      expect((await alice.get('/console/jobs')).status).toBe(200)
      await clock.advance(61_000)
      const expired = await alice.get('/console/jobs')
      expect(expired.status).toBe(303)
      expect(expired.headers.get('location')).toBe('/console/sign-in')
    } finally {
      await timed.close()
    }
  })
})

describe('every page is safe to render', () => {
  test('a strict Content-Security-Policy, no framing, no caching, no referrer', async () => {
    const ops = new ConsoleClient(relay.url)
    await ops.signIn(OPS)
    for (const path of ['/console', '/console/jobs', `/console/jobs/${bobJob.id}`, '/console/sign-in']) {
      const { response } = await ops.page(path)
      const csp = response.headers.get('content-security-policy') ?? ''
      for (const directive of [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
      ])
        expect(csp).toContain(directive)
      expect(csp).not.toContain('unsafe-inline')
      expect(csp).not.toContain('unsafe-eval')
      expect(response.headers.get('x-frame-options')).toBe('DENY')
      expect(response.headers.get('cache-control')).toBe('no-store')
      expect(response.headers.get('referrer-policy')).toBe('no-referrer')
    }
  })

  test('the stylesheet and htmx come from the relay itself, cached for good under a content hash', async () => {
    const { html } = await new ConsoleClient(relay.url).page('/console/sign-in')
    const css = /href="(\/console\/assets\/console\.[0-9a-f]{12}\.css)"/.exec(html)?.[1]
    const js = /src="(\/console\/assets\/htmx\.[0-9a-f]{12}\.js)"/.exec(html)?.[1]
    expect(css).toBeDefined()
    expect(js).toBeDefined()
    const script = await fetch(`${relay.url}${js}`)
    expect(script.headers.get('content-type')).toStartWith('text/javascript')
    expect(script.headers.get('cache-control')).toContain('immutable')
    expect(await script.text()).toContain('htmx')
    expect((await fetch(`${relay.url}${css}`)).headers.get('content-type')).toStartWith('text/css')
    expect((await fetch(`${relay.url}/console/assets/console.000000000000.css`)).status).toBe(404)
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/)
  })
})

describe('CSRF', () => {
  test('an action without the token, with another session’s, or from another site is refused and changes nothing', async () => {
    const alice = new ConsoleClient(relay.url)
    await alice.signIn(ALICE)
    const other = new ConsoleClient(relay.url)
    await other.signIn(ALICE)
    const delivered = relay.sink.forJob(aliceJob.id).length
    const path = `/console/jobs/${aliceJob.id}/redeliver`
    const refused = [
      await alice.post(path, {}, { csrf: null }),
      await alice.post(path, {}, { csrf: '' }),
      await alice.post(path, {}, { csrf: other.csrf }),
      await alice.post(path, {}, { headers: { 'sec-fetch-site': 'cross-site' } }),
      // The token alone, without the session it belongs to.
      await new ConsoleClient(relay.url).post(path, {}, { csrf: alice.csrf }),
    ]
    for (const response of refused) expect(response.status).toBe(403)
    expect(await jobStatus(aliceJob.id)).toBe('delivered')
    expect(relay.sink.forJob(aliceJob.id).length).toBe(delivered)
    // The same request with its own token goes through.
    const accepted = await alice.post(path)
    expect(accepted.status).toBe(303)
    expect(accepted.headers.get('location')).toBe(`/console/jobs/${aliceJob.id}?done=redelivered`)
    await relay.sink.waitForJob(aliceJob.id, delivered + 1)
  })
})

describe('who sees what', () => {
  test("a client key sees its own jobs and conversations, and nobody else's", async () => {
    const alice = new ConsoleClient(relay.url)
    await alice.signIn(ALICE)
    const list = await alice.page('/console/jobs')
    expect(list.html).toContain(aliceJob.id)
    expect(list.html).not.toContain(bobJob.id)
    expect((await alice.page(`/console/jobs/${bobJob.id}`)).status).toBe(404)
    expect((await alice.page('/console/conversations/bob-chat')).status).toBe(404)
    expect((await alice.page('/console/conversations')).html).not.toContain('bob-chat')
    // Nor act on it: redeliver and forget answer 404, and bob's history stays.
    expect((await alice.post(`/console/jobs/${bobJob.id}/redeliver`)).status).toBe(404)
    expect((await alice.post(`/console/jobs/${bobJob.id}/cancel`)).status).toBe(404)
    expect(await jobStatus(bobJob.id)).toBe('delivered')
    // Her own finished job: nothing to cancel, and the page says so.
    const finished = await alice.post(`/console/jobs/${aliceJob.id}/cancel`)
    expect(finished.headers.get('location')).toBe(`/console/jobs/${aliceJob.id}?done=already-finished`)
    expect((await alice.post('/console/conversations/bob-chat/forget')).status).toBe(404)
    const history = await fetch(`${relay.url}/conversations/bob-chat`, {
      headers: { authorization: `Bearer ${BOB}` },
    })
    expect(((await history.json()) as { messages: unknown[] }).messages.length).toBe(2)
    // The overview shows the whole relay: not for a client.
    const overview = await alice.get('/console')
    expect(overview.status).toBe(303)
    expect(overview.headers.get('location')).toBe('/console/jobs')
    expect((await alice.get('/console/overview/live')).status).toBe(403)
  })

  test("an admin key sees every client's jobs, with whose they are, and their conversations", async () => {
    const ops = new ConsoleClient(relay.url)
    await ops.signIn(OPS)
    const list = await ops.page('/console/jobs')
    expect(list.html).toContain(aliceJob.id)
    expect(list.html).toContain(bobJob.id)
    const job = await ops.page(`/console/jobs/${bobJob.id}`)
    expect(job.status).toBe(200)
    expect(job.html).toContain('bob asks about his invoice')
    expect(job.html).toContain('/console/conversations/bob-chat?owner=bob')
    const conversation = await ops.page('/console/conversations/bob-chat?owner=bob')
    expect(conversation.status).toBe(200)
    expect(conversation.html).toContain('echo: bob asks about his invoice')
    expect((await ops.page('/console')).html).toContain('Open jobs')
  })
})

describe('without API keys, and turned off', () => {
  test('without keys the console is open, says so, and still wants its CSRF token', async () => {
    const open = await startTestRelay()
    try {
      const job = await open.send('open question')
      await open.waitForStatus(job.id, 'delivered')
      const visitor = new ConsoleClient(open.url)
      const page = await visitor.page('/console')
      expect(page.status).toBe(200)
      expect(page.html).toContain('Open console.')
      expect(page.html).not.toContain('Sign out')
      expect((await visitor.page(`/console/jobs/${job.id}`)).html).toContain('open question')
      expect((await visitor.post(`/console/jobs/${job.id}/redeliver`, {}, { csrf: null })).status).toBe(403)
      expect((await visitor.post(`/console/jobs/${job.id}/redeliver`)).status).toBe(303)
      await open.sink.waitForJob(job.id, 2)
    } finally {
      await open.close()
    }
  })

  test('CONSOLE_ENABLED=false serves nothing under /console', async () => {
    const off = await startTestRelay({ CONSOLE_ENABLED: 'false' })
    try {
      for (const path of ['/console', '/console/sign-in', '/console/jobs'])
        expect((await fetch(`${off.url}${path}`, { redirect: 'manual' })).status).toBe(404)
    } finally {
      await off.close()
    }
  })

  test('behind a TLS proxy (TRUST_PROXY, X-Forwarded-Proto: https) the cookie is Secure', async () => {
    const proxied = await startTestRelay({ TRUST_PROXY: 'true' })
    try {
      const response = await fetch(`${proxied.url}/console`, { headers: { 'x-forwarded-proto': 'https' } })
      expect(response.headers.get('set-cookie')).toContain('; Secure')
    } finally {
      await proxied.close()
    }
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Webhook } from 'standardwebhooks'
import { runCli } from '../src/cli.ts'
import { createClientCommand } from '../src/clients/create-client-command.ts'
import type { Received } from './support/callback-sink.ts'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay, testEnv } from './support/relay.ts'

const ADMIN = 'ops-key-0123456789abcdefghij'
const LEGACY = 'legacy-key-0123456789abcdef'
const DEFAULT_SECRET = `whsec_${Buffer.from('the-relay-wide-signing-secret-xx').toString('base64')}`

// Callback retries and the rotation's grace run on this clock; it starts at the real time so
// that the receivers' Webhook.verify (which refuses timestamps 5 minutes off) accepts them.
const clock = new ManualClock(Date.now())
let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay(
    {
      API_KEYS: `legacy:${LEGACY}`,
      ADMIN_API_KEYS: `ops:${ADMIN}`,
      CALLBACK_SECRET: DEFAULT_SECRET,
      CALLBACK_SECRET_GRACE: '2s',
      DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 3).toString('base64')}`,
    },
    { clock },
  )
})
afterAll(() => relay.close())

const as = (key: string) => ({ authorization: `Bearer ${key}` })

const api = (method: string, path: string, key: string, body?: unknown) =>
  fetch(`${relay.url}${path}`, {
    method,
    headers: { ...as(key), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

interface Created {
  id: string
  name: string
  api_key: string
  signing_secret: string
  [setting: string]: unknown
}

async function createClient(body: Record<string, unknown>): Promise<Created> {
  const response = await api('POST', '/clients', ADMIN, body)
  expect(response.status).toBe(201)
  return (await response.json()) as Created
}

async function send(key: string, message: string, extra: Record<string, unknown> = {}): Promise<Received> {
  const response = await relay.post({ message, callback_url: `${relay.sink.url}/hook`, ...extra }, as(key))
  expect(response.status).toBe(202)
  const { id } = (await response.json()) as { id: string }
  const [callback] = await relay.sink.waitForJob(id)
  if (!callback) throw new Error('no callback')
  return callback
}

const headersOf = (r: Received) => Object.fromEntries(r.headers.entries())
const verifies = (secret: string, r: Received): boolean => {
  try {
    new Webhook(secret).verify(r.raw, headersOf(r))
    return true
  } catch {
    return false
  }
}

describe('clients', () => {
  test('only an admin key manages clients: a client key gets 403, no key 401', async () => {
    const before = (await api('GET', '/clients', ADMIN).then((r) => r.json())) as { clients: unknown[] }
    expect((await api('POST', '/clients', LEGACY, { name: 'sneaky' })).status).toBe(403)
    expect((await api('GET', '/clients', LEGACY)).status).toBe(403)
    expect((await api('POST', `/clients/x/rotate-key`, LEGACY)).status).toBe(403)
    expect((await api('GET', '/callback-origins', LEGACY)).status).toBe(403)
    const after = (await api('GET', '/clients', ADMIN).then((r) => r.json())) as { clients: unknown[] }
    expect(after.clients).toEqual(before.clients)
    expect((await fetch(`${relay.url}/clients`)).status).toBe(401)
  })

  test('created: the key and the secret are in the 201 only; listed and read without them', async () => {
    const created = await createClient({
      name: 'shown-once',
      llm_rpm: 5,
      allowed_callback_hosts: ['Hooks.Example.COM.'],
    })
    expect(created.api_key).toMatch(/^lrk_/)
    expect(created.signing_secret).toMatch(/^whsec_/)
    expect(created).toMatchObject({
      llm_rpm: 5,
      allowed_callback_hosts: ['hooks.example.com'],
      rate_limit: null,
    })
    const read = await (await api('GET', `/clients/${created.id}`, ADMIN)).text()
    const list = await (await api('GET', '/clients', ADMIN)).text()
    for (const text of [read, list]) {
      expect(text).toContain(created.id)
      expect(text).not.toContain(created.api_key)
      expect(text).not.toContain(created.signing_secret)
      expect(text).not.toContain('api_key')
    }
    expect((await api('POST', '/clients', ADMIN, { name: 'shown-once' })).status).toBe(409)
    expect((await api('POST', '/clients', ADMIN, { name: 'bad name!' })).status).toBe(422)
    expect((await api('POST', '/clients', ADMIN, { name: 'x', rate_limit: 0 })).status).toBe(422)
    expect((await api('POST', '/clients', ADMIN, { name: 'x', surprise: 1 })).status).toBe(422)
    expect((await api('GET', '/clients/no-such-client', ADMIN)).status).toBe(404)
    expect(relay.logs.join('\n')).not.toContain(created.api_key)
    expect(relay.logs.join('\n')).not.toContain(created.signing_secret)
  })

  test('two clients, two secrets: each one’s callbacks verify with its own secret only; API_KEYS jobs with CALLBACK_SECRET', async () => {
    const a = await createClient({ name: 'client-a' })
    const b = await createClient({ name: 'client-b' })
    const fromA = await send(a.api_key, 'from a')
    const fromB = await send(b.api_key, 'from b')
    const fromLegacy = await send(LEGACY, 'from legacy')
    expect([verifies(a.signing_secret, fromA), verifies(b.signing_secret, fromA)]).toEqual([true, false])
    expect([verifies(b.signing_secret, fromB), verifies(a.signing_secret, fromB)]).toEqual([true, false])
    expect([verifies(DEFAULT_SECRET, fromLegacy), verifies(a.signing_secret, fromLegacy)]).toEqual([
      true,
      false,
    ])
    expect(verifies(DEFAULT_SECRET, fromA)).toBe(false)
    // Each client's jobs and conversations are its own.
    expect((await api('GET', `/jobs/${fromA.body.data.id}`, a.api_key)).status).toBe(200)
    expect((await api('GET', `/jobs/${fromA.body.data.id}`, b.api_key)).status).toBe(404)
    expect((await api('GET', `/jobs/${fromA.body.data.id}`, LEGACY)).status).toBe(404)
  })

  test('secret rotation: both signatures during the grace, the new one alone after it', async () => {
    const c = await createClient({ name: 'rotating' })
    const rotation = await api('POST', `/clients/${c.id}/rotate-secret`, ADMIN)
    expect(rotation.status).toBe(200)
    const { signing_secret, previous_valid_until } = (await rotation.json()) as {
      signing_secret: string
      previous_valid_until: string
    }
    expect(signing_secret).not.toBe(c.signing_secret)
    expect(Date.parse(previous_valid_until)).toBe(clock.now() + 2000)
    const during = await send(c.api_key, 'during the grace')
    const signatures = during.headers.get('webhook-signature')?.split(' ') ?? []
    expect(signatures).toHaveLength(2)
    expect(signatures.every((s) => s.startsWith('v1,'))).toBe(true)
    expect([verifies(signing_secret, during), verifies(c.signing_secret, during)]).toEqual([true, true])
    const read = (await (await api('GET', `/clients/${c.id}`, ADMIN)).json()) as Record<string, unknown>
    expect(read.previous_secret_valid_until).toBe(previous_valid_until)

    clock.advance(2001)
    const after = await send(c.api_key, 'after the grace')
    expect(after.headers.get('webhook-signature')?.split(' ')).toHaveLength(1)
    expect([verifies(signing_secret, after), verifies(c.signing_secret, after)]).toEqual([true, false])
  })

  test('key rotation, disabling and deletion take effect at once on this instance', async () => {
    const c = await createClient({ name: 'short-lived' })
    await send(c.api_key, 'before rotation')
    const rotated = await api('POST', `/clients/${c.id}/rotate-key`, ADMIN)
    const { api_key } = (await rotated.json()) as { api_key: string }
    expect((await api('GET', '/jobs/x', c.api_key)).status).toBe(401)
    expect((await api('GET', '/jobs/x', api_key)).status).toBe(404)

    expect((await api('PATCH', `/clients/${c.id}`, ADMIN, { disabled: true })).status).toBe(200)
    const refused = await api('GET', '/jobs/x', api_key)
    expect(refused.status).toBe(403)
    expect(((await refused.json()) as { detail: string }).detail).toBe('This client is disabled.')
    expect((await api('PATCH', `/clients/${c.id}`, ADMIN, { disabled: false })).status).toBe(200)
    expect((await api('GET', '/jobs/x', api_key)).status).toBe(404)

    expect((await api('DELETE', `/clients/${c.id}`, ADMIN)).status).toBe(204)
    expect((await api('GET', '/jobs/x', api_key)).status).toBe(401)
    expect((await api('GET', `/clients/${c.id}`, ADMIN)).status).toBe(404)
    expect((await api('DELETE', `/clients/${c.id}`, ADMIN)).status).toBe(404)
    expect((await api('POST', `/clients/${c.id}/rotate-secret`, ADMIN)).status).toBe(404)
  })

  test('a client’s model, system prompt and allowed callback hosts apply to its messages', async () => {
    const c = await createClient({
      name: 'with-defaults',
      model: 'client/model',
      system_prompt: 'You answer for the client.',
      allowed_callback_hosts: ['127.0.0.1'],
    })
    const callback = await send(c.api_key, 'use my defaults')
    const call = relay.llm.calls.find((x) => x.body.messages.at(-1)?.content === 'use my defaults')
    expect(call?.body.model).toBe('client/model')
    expect(call?.body.messages[0]).toEqual({ role: 'system', content: 'You answer for the client.' })
    expect(callback.body.data.model).toBe('client/model')
    await send(c.api_key, 'mine', { model: 'request/model' })
    expect(relay.llm.calls.find((x) => x.body.messages.at(-1)?.content === 'mine')?.body.model).toBe(
      'request/model',
    )

    const elsewhere = await relay.post(
      { message: 'elsewhere', callback_url: `http://localhost:${new URL(relay.sink.url).port}/hook` },
      as(c.api_key),
    )
    expect(elsewhere.status).toBe(422)
    expect(await elsewhere.text()).toContain('allowed_callback_hosts')
  })

  test('an admin key reads every client’s usage and the callback origins; a client key its own usage', async () => {
    const today = new Date(clock.now()).toISOString().slice(0, 10)
    const all = (await (await api('GET', `/usage?from=${today}&to=${today}`, ADMIN)).json()) as {
      usage: { key: string; client_id: string | null; jobs: number }[]
    }
    const names = all.usage.map((l) => l.key)
    expect(names).toEqual(expect.arrayContaining(['client-a', 'client-b', 'legacy']))
    expect(all.usage.find((l) => l.key === 'legacy')?.client_id).toBeNull()
    const own = (await (await api('GET', `/usage?from=${today}&to=${today}`, LEGACY)).json()) as {
      usage: { key: string }[]
    }
    expect(own.usage.map((l) => l.key)).toEqual(['legacy'])
    const origins = await api('GET', '/callback-origins', ADMIN)
    expect(origins.status).toBe(200)
    expect(await origins.json()).toEqual({ origins: [] })
  })

  test('a client’s own rate limit', async () => {
    const c = await createClient({ name: 'limited', rate_limit: 2 })
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await api('GET', '/jobs/x', c.api_key)).status)
    expect(statuses).toEqual([404, 404, 429])
    expect((await api('GET', '/jobs/x', LEGACY)).status).toBe(404)
  })

  test('llm-relay clients create NAME writes a client the running relay accepts, and prints its key once', async () => {
    const env = testEnv(relay.dir, relay.llm, {
      DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 3).toString('base64')}`,
    })
    const parsed = runCli(['clients', 'create', 'from-cli'], { out: () => {}, err: () => {}, env })
    if (typeof parsed !== 'object' || !('createClient' in parsed)) throw new Error('not a clients command')
    const out: string[] = []
    const err: string[] = []
    const code = await createClientCommand(parsed.config, parsed.createClient, {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    })
    expect({ code, err }).toEqual({ code: 0, err: [] })
    const key = /lrk_\S+/.exec(out.join('\n'))?.[0] as string
    const secret = /whsec_\S+/.exec(out.join('\n'))?.[0] as string
    const callback = await send(key, 'from the cli client')
    expect(verifies(secret, callback)).toBe(true)
    const usage: string[] = []
    expect(runCli(['clients', 'create'], { out: () => {}, err: (t) => usage.push(t), env })).toBe(2)
    expect(
      runCli(['clients', 'create', 'no spaces'], { out: () => {}, err: (t) => usage.push(t), env }),
    ).toBe(2)
    expect(usage).toHaveLength(2)
  })
})

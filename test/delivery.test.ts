import { afterAll, beforeAll, describe, expect, setSystemTime, test } from 'bun:test'
import { Webhook } from 'standardwebhooks'
import { signWebhook } from '../src/delivery/signature.ts'
import { ManualClock } from './support/manual-clock.ts'
import { type JobView, startTestRelay, type TestRelay } from './support/relay.ts'

const SECRET = `whsec_${Buffer.from('a-test-signing-secret-of-32-bytes').toString('base64')}`

// Callback retries wait on this clock (CALLBACK_RETRY_SCHEDULE is 20ms,20ms): the tests move it.
// It starts at the real time, so that signatures verify against the receiver's clock.
const clock = new ManualClock(Date.now())
let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay({ CALLBACK_SECRET: SECRET, CALLBACK_TIMEOUT: '300ms' }, { clock })
})
afterAll(() => relay.close())

/** Moves the clock in the retry schedule's 20 ms steps until the job has `count` callback attempts. */
const attemptsAfterRetries = (id: string, count: number) =>
  clock.advanceUntil(
    20,
    () => relay.sink.forJob(id).length >= count && relay.sink.forJob(id),
    `${count} callbacks for job ${id}`,
  )

/** Moves the clock in 20 ms steps until the job is `status`. */
const statusAfterRetries = (id: string, status: string) =>
  clock.advanceUntil(
    20,
    async (): Promise<JobView | false> => {
      const view = await relay.job(id)
      return view.status === status && view
    },
    `job ${id} to be ${status}`,
  )

const headersOf = (h: Headers) => Object.fromEntries(h.entries())

describe('callbacks', () => {
  test('are signed so the standardwebhooks library verifies them', async () => {
    const { id } = await relay.send('sign me', { conversation_id: 'signed' })
    const [callback] = await relay.sink.waitForJob(id)
    if (!callback) throw new Error('no callback')
    const verified = new Webhook(SECRET).verify(callback.raw, headersOf(callback.headers))
    expect(verified).toEqual(callback.body)
    expect(callback.headers.get('webhook-signature')).toStartWith('v1,')
  })

  test('signWebhook gives the Standard Webhooks specification’s published test vector', () => {
    const vector = {
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    }
    expect(signWebhook(vector.secret, vector.id, vector.timestamp, vector.body)).toBe(vector.signature)
    const webhook = new Webhook(vector.secret)
    expect(webhook.sign(vector.id, new Date(vector.timestamp * 1000), vector.body)).toBe(vector.signature)
    const headers = {
      'webhook-id': vector.id,
      'webhook-timestamp': String(vector.timestamp),
      'webhook-signature': vector.signature,
    }
    // verify() refuses timestamps 5 minutes off the clock: check the vector at its own time
    // (synchronously, so nothing else runs while the clock is set back).
    setSystemTime(new Date(vector.timestamp * 1000))
    try {
      expect(webhook.verify(vector.body, headers)).toEqual({ test: 2432232314 })
    } finally {
      setSystemTime()
    }
  })

  test('a tampered body, another secret or an old timestamp fail verification', async () => {
    const { id } = await relay.send('tamper with me', { conversation_id: 'tamper' })
    const [callback] = await relay.sink.waitForJob(id)
    if (!callback) throw new Error('no callback')
    const headers = headersOf(callback.headers)
    expect(() => new Webhook(SECRET).verify(callback.raw.replace('tamper', 'TAMPER'), headers)).toThrow()
    const other = `whsec_${Buffer.from('another-secret-another-secret-xx').toString('base64')}`
    expect(() => new Webhook(other).verify(callback.raw, headers)).toThrow()
    expect(() =>
      new Webhook(SECRET).verify(callback.raw, {
        ...headers,
        'webhook-timestamp': String(Number(headers['webhook-timestamp']) - 3600),
      }),
    ).toThrow()
  })

  test('failing twice then succeeding: one LLM call, three attempts, one webhook-id', async () => {
    relay.sink.respond(500, 503)
    const { id } = await relay.send('deliver me eventually', { conversation_id: 'flaky' })
    const firstAt = clock.now()
    const callbacks = await attemptsAfterRetries(id, 3)
    expect(clock.now()).toBeGreaterThanOrEqual(firstAt + 40)
    expect(new Set(callbacks.map((c) => c.headers.get('webhook-id')))).toEqual(new Set([id]))
    expect(new Set(callbacks.map((c) => c.raw)).size).toBe(1)
    const job = await relay.waitForStatus(id, 'delivered')
    expect(job.attempts).toEqual({ llm: 1, delivery: 3 })
    expect(job.deliveries.map((d) => d.status_code)).toEqual([500, 503, 200])
    expect(job.deliveries.map((d) => d.error?.code ?? null)).toEqual([
      'callback_http_status',
      'callback_http_status',
      null,
    ])
    expect(
      relay.llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'deliver me eventually'),
    ).toHaveLength(1)
    const history = (await (await fetch(`${relay.url}/conversations/flaky`)).json()) as {
      messages: unknown[]
    }
    expect(history.messages).toHaveLength(2)
  })

  test('a callback that never succeeds ends dead, and redelivery sends the stored answer again', async () => {
    relay.sink.fail(500)
    const { id } = await relay.send('doomed delivery', { conversation_id: 'dead-end' })
    const dead = await statusAfterRetries(id, 'dead')
    expect(dead.attempts.delivery).toBe(3)
    expect(dead.response).toBe('echo: doomed delivery')
    expect(relay.sink.forJob(id)).toHaveLength(3)

    relay.sink.recover()
    const redeliver = await fetch(`${relay.url}/jobs/${id}/redeliver`, { method: 'POST' })
    expect(redeliver.status).toBe(202)
    expect(await redeliver.json()).toEqual({ id, status: 'delivering' })
    const delivered = await relay.waitForStatus(id, 'delivered')
    expect(delivered.attempts).toEqual({ llm: 1, delivery: 4 })
    const callbacks = relay.sink.forJob(id)
    expect(callbacks).toHaveLength(4)
    expect(callbacks[3]?.body.data.response).toBe('echo: doomed delivery')
    expect(callbacks[3]?.headers.get('webhook-id')).toBe(id)
    expect(relay.llm.calls.filter((c) => c.body.messages.at(-1)?.content === 'doomed delivery')).toHaveLength(
      1,
    )
  })

  test('410 Gone ends the job dead at once (callback_gone): no attempt after it, the schedule left unspent', async () => {
    relay.sink.respond(500, 410)
    const { id } = await relay.send('gone receiver', { conversation_id: 'gone-410' })
    const dead = await statusAfterRetries(id, 'dead')
    expect(dead.attempts).toEqual({ llm: 1, delivery: 2 })
    expect(dead.deliveries.map((d) => [d.status_code, d.error?.code])).toEqual([
      [500, 'callback_http_status'],
      [410, 'callback_gone'],
    ])
    // The schedule would allow a third attempt 20 ms on: none comes, however far the clock moves.
    clock.advance(60_000)
    await relay.waitForStatus(id, 'dead')
    expect(relay.sink.forJob(id)).toHaveLength(2)
  })

  test('redelivery of a job still in progress is a 409 problem; of an unknown job a 404', async () => {
    const held = relay.llm.hold()
    const { id } = await relay.send('in progress', { conversation_id: 'busy' })
    await held.received
    const conflict = await fetch(`${relay.url}/jobs/${id}/redeliver`, { method: 'POST' })
    expect(conflict.status).toBe(409)
    expect(conflict.headers.get('content-type')).toStartWith('application/problem+json')
    held.release()
    await relay.sink.waitForJob(id)
    expect((await fetch(`${relay.url}/jobs/nope/redeliver`, { method: 'POST' })).status).toBe(404)
  })

  test('a redirect is a failed attempt and is not followed', async () => {
    relay.sink.respond(302)
    const { id } = await relay.send('redirect me', { conversation_id: 'redirect' })
    const callbacks = await attemptsAfterRetries(id, 2)
    expect(callbacks.map((c) => c.path)).toEqual(['/hook', '/hook'])
    expect(relay.sink.received.some((r) => r.path === '/redirected')).toBe(false)
    const job = await relay.waitForStatus(id, 'delivered')
    expect(job.deliveries[0]?.status_code).toBe(302)
    expect(job.deliveries[0]?.error?.code).toBe('callback_redirect')
  })

  test('an unreachable callback is retried and recorded as a connection error', async () => {
    const closed = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('x') })
    const url = `http://127.0.0.1:${closed.port}/gone`
    closed.stop(true)
    const response = await relay.post({ message: 'nobody home', callback_url: url, conversation_id: 'gone' })
    const { id } = (await response.json()) as { id: string }
    const job = await statusAfterRetries(id, 'dead')
    expect(job.deliveries).toHaveLength(3)
    expect(job.deliveries.every((d) => d.error?.code === 'callback_connection')).toBe(true)
  })

  test('a callback slower than CALLBACK_TIMEOUT counts as a timeout', async () => {
    const slow = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: async () => {
        await Bun.sleep(2_000)
        return new Response('late')
      },
    })
    try {
      const response = await relay.post({
        message: 'too slow',
        callback_url: `http://127.0.0.1:${slow.port}/slow`,
        conversation_id: 'slow-cb',
      })
      const { id } = (await response.json()) as { id: string }
      const job = await statusAfterRetries(id, 'dead')
      expect(job.deliveries.map((d) => d.error?.code)).toEqual([
        'callback_timeout',
        'callback_timeout',
        'callback_timeout',
      ])
    } finally {
      slow.stop(true)
    }
  })
})

test('without CALLBACK_SECRET callbacks carry no signature', async () => {
  const plain = await startTestRelay()
  try {
    const { id } = await plain.send('unsigned')
    const [callback] = await plain.sink.waitForJob(id)
    expect(callback?.headers.get('webhook-signature')).toBeNull()
    expect(callback?.headers.get('webhook-id')).toBe(id)
  } finally {
    await plain.close()
  }
})

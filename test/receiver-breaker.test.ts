import { afterEach, describe, expect, test } from 'bun:test'
import { CallbackSink, type Received } from './support/callback-sink.ts'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'
import { eventually } from './support/signal.ts'

// Retries, probes and deferrals run on this clock; the tests move it.
let relay: TestRelay | undefined
const others: CallbackSink[] = []
afterEach(async () => {
  await relay?.close()
  relay = undefined
  for (const sink of others.splice(0)) sink.stop()
})

const originOf = (r: TestRelay) => new URL(r.sink.url).origin
const attemptsOf = async (r: TestRelay, ids: string[]) =>
  Promise.all(ids.map(async (id) => (await r.job(id)).attempts.delivery))
const originState = async (r: TestRelay) =>
  (await r.store.origins.listOrigins()).find((o) => o.origin === originOf(r))

describe('a receiver that keeps failing', () => {
  test('opens its origin: deliveries wait without attempts, one probe a period, the first success releases the backlog in order', async () => {
    const clock = new ManualClock(Date.now())
    relay = await startTestRelay(
      {
        CALLBACK_BREAKER_FAILURES: '3',
        CALLBACK_BREAKER_PROBE: '1s',
        CALLBACK_RETRY_SCHEDULE: '200ms,200ms,200ms,200ms,200ms,200ms',
      },
      { clock },
    )
    const r = relay
    r.sink.fail(500)
    const ids: string[] = []
    for (const name of ['a', 'b', 'c']) ids.push((await r.send(`to ${name}`, { conversation_id: name })).id)
    await r.sink.waitFor(3)
    const opened = await eventually(async () => {
      const o = await originState(r)
      return o?.state === 'open' && o
    }, 'the origin to open')
    expect(opened).toMatchObject({ failures: 3, lastError: { code: 'callback_http_status' } })

    // While open: a new job's callback and the failed ones' retries wait, and spend nothing.
    ids.push((await r.send('to d', { conversation_id: 'd' })).id)
    await eventually(async () => (await r.job(ids[3] as string)).status === 'delivering', 'd to be answered')
    await clock.advance(600)
    await Bun.sleep(50)
    await clock.advance(300)
    expect(r.sink.received).toHaveLength(3)
    expect(await attemptsOf(r, ids)).toEqual([1, 1, 1, 0])
    expect((await originState(r))?.backlog).toBe(4)

    // The probe time comes: exactly one delivery goes, fails, and is counted.
    await clock.advanceUntil(50, () => r.sink.received.length >= 4, 'the probe')
    await clock.advance(500)
    await Bun.sleep(50)
    expect(r.sink.received).toHaveLength(4)
    const afterProbe = await attemptsOf(r, ids)
    expect(afterProbe.reduce((a, b) => a + b, 0)).toBe(4)
    expect((await originState(r))?.state).toBe('open')

    // The receiver is back: the next probe succeeds, the origin closes, the rest follow in order.
    r.sink.recover()
    const delivered = await clock.advanceUntil(
      100,
      async () => {
        const views = await Promise.all(ids.map((id) => r.job(id)))
        return views.every((v) => v.status === 'delivered') && views
      },
      'every job delivered',
    )
    const successes = r.sink.received.slice(4).map((c) => c.body.data.id)
    expect(new Set(successes)).toEqual(new Set(ids))
    const probe = successes[0] as string
    expect(successes.slice(1)).toEqual(ids.filter((id) => id !== probe))
    // Attempts: 3 failures, one failed probe, then one success each; no deferral counted.
    expect(delivered.map((v) => v.attempts.delivery).reduce((a, b) => a + b, 0)).toBe(8)
    for (const v of delivered) expect(v.attempts.delivery).toBe(r.sink.forJob(v.id).length)
    expect(await originState(r)).toMatchObject({ state: 'closed', failures: 0, backlog: 0 })
    const metrics = await (await fetch(`${r.url}/metrics`)).text()
    expect(metrics).toMatch(/llm_relay_deliveries_deferred_total\{reason="open"\} [1-9]/)
  })

  test('a success before the threshold ends the streak; other origins are never held back', async () => {
    relay = await startTestRelay({ CALLBACK_BREAKER_FAILURES: '2', CALLBACK_RETRY_SCHEDULE: '20ms' })
    const r = relay
    const healthy = new CallbackSink()
    others.push(healthy)
    r.sink.respond(500)
    const first = await r.send('fails once', { conversation_id: 'x' })
    await r.waitForStatus(first.id, 'delivered')
    expect((await originState(r))?.failures).toBe(0)
    r.sink.fail(500)
    await r.send('one', { conversation_id: 'y' })
    await r.send('two', { conversation_id: 'z' })
    await eventually(async () => (await originState(r))?.state === 'open', 'the origin to open')
    const elsewhere = await r.post({
      message: 'other origin',
      callback_url: `${healthy.url}/hook`,
      conversation_id: 'w',
    })
    const { id } = (await elsewhere.json()) as { id: string }
    await healthy.waitForJob(id)
    expect((await r.waitForStatus(id, 'delivered')).status).toBe('delivered')
  })
})

describe('CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN', () => {
  test('a callback over the cap waits here for its origin’s next free slot, deferred only past BUSY_WAIT_MS', async () => {
    const clock = new ManualClock(Date.now())
    relay = await startTestRelay(
      { CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN: '1', WORKER_CONCURRENCY: '4' },
      { clock },
    )
    const r = relay
    const deferred = async () =>
      /llm_relay_deliveries_deferred_total\{reason="busy"\} (\d+)/.exec(
        await (await fetch(`${r.url}/metrics`)).text(),
      )?.[1] ?? '0'
    // Time stands still: the second callback waits for the first's slot, however long it takes.
    const held = r.sink.hold()
    const first = await r.send('first', { conversation_id: 'f' })
    await r.sink.waitFor(1)
    const second = await r.send('second', { conversation_id: 's' })
    await eventually(
      async () => (await r.job(second.id)).status === 'delivering',
      'the second to be answered',
    )
    expect(r.sink.received).toHaveLength(1)
    held.release()
    await r.waitForStatus(first.id, 'delivered')
    await r.waitForStatus(second.id, 'delivered')
    expect(await attemptsOf(r, [first.id, second.id])).toEqual([1, 1])
    expect(await deferred()).toBe('0')

    // A receiver that stays slow: past BUSY_WAIT_MS the waiting callback is held back instead,
    // its delivery slot freed, no attempt spent.
    const slow = r.sink.hold()
    const third = await r.send('third', { conversation_id: 't' })
    await r.sink.waitFor(3)
    const fourth = await r.send('fourth', { conversation_id: 'u' })
    await eventually(
      async () => (await r.job(fourth.id)).status === 'delivering',
      'the fourth to be answered',
    )
    await clock.advanceUntil(50, async () => (await deferred()) === '1' || undefined, 'the busy deferral')
    expect(await attemptsOf(r, [fourth.id])).toEqual([0])
    slow.release()
    await clock.advanceUntil(
      200,
      async () => (await r.job(fourth.id)).status === 'delivered' || undefined,
      'the fourth',
    )
    await r.waitForStatus(third.id, 'delivered')
    expect(await attemptsOf(r, [third.id, fourth.id])).toEqual([1, 1])
  })

  test('a slow origin holds at most its share of callbacks; another origin’s go on; no attempt is spent waiting', async () => {
    relay = await startTestRelay({ CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN: '2', WORKER_CONCURRENCY: '8' })
    const r = relay
    const fast = new CallbackSink()
    others.push(fast)
    const held = r.sink.hold()
    const slow: string[] = []
    for (let i = 0; i < 5; i++) slow.push((await r.send(`slow ${i}`, { conversation_id: `s${i}` })).id)
    await r.sink.waitFor(2)
    const quick = await r.post({ message: 'quick', callback_url: `${fast.url}/hook`, conversation_id: 'q' })
    const { id } = (await quick.json()) as { id: string }
    await fast.waitForJob(id)
    await Bun.sleep(100)
    expect(r.sink.received).toHaveLength(2)
    held.release()
    for (const job of slow) await r.waitForStatus(job, 'delivered')
    expect(await attemptsOf(r, slow)).toEqual([1, 1, 1, 1, 1])
    expect(r.sink.received).toHaveLength(5)
  }, 15_000)
})

describe('OPERATOR_WEBHOOK_URL', () => {
  test('hears endpoint.failing, endpoint.recovered and job.dead, signed, retried when it fails', async () => {
    const secret = `whsec_${Buffer.from('operator-events-signing-secret!!').toString('base64')}`
    const operator = new CallbackSink()
    others.push(operator)
    operator.respond(503)
    relay = await startTestRelay({
      CALLBACK_SECRET: secret,
      OPERATOR_WEBHOOK_URL: `${operator.url}/ops`,
      CALLBACK_BREAKER_FAILURES: '2',
      CALLBACK_BREAKER_PROBE: '200ms',
      CALLBACK_RETRY_SCHEDULE: '50ms,50ms,50ms,50ms,50ms,50ms',
    })
    const r = relay
    r.sink.fail(500)
    const early = [
      await r.send('one', { conversation_id: 'e1' }),
      await r.send('two', { conversation_id: 'e2' }),
    ]
    const isType = (type: string) =>
      operator.received.filter((e) => (e.body as { type: string }).type === type)
    // The first answer was a 503: what arrives is the retry.
    await operator.signal.until(() => isType('endpoint.failing').length >= 2, 'endpoint.failing, retried')
    r.sink.recover()
    await operator.signal.until(() => isType('endpoint.recovered').length >= 1, 'endpoint.recovered')
    for (const job of early) await r.waitForStatus(job.id, 'delivered')
    r.sink.respond(410)
    const gone = await r.send('gone', { conversation_id: 'e3' })
    await operator.signal.until(() => isType('job.dead').length >= 1, 'job.dead')

    const [failing] = isType('endpoint.failing')
    const [recovered] = isType('endpoint.recovered')
    const [dead] = isType('job.dead')
    const dataOf = (event: Received | undefined) => (event?.body as { data?: unknown } | undefined)?.data
    const { Webhook } = await import('standardwebhooks')
    for (const event of [failing, recovered, dead]) {
      if (!event) throw new Error('missing event')
      expect(() =>
        new Webhook(secret).verify(event.raw, Object.fromEntries(event.headers.entries())),
      ).not.toThrow()
    }
    const origin = new URL(r.sink.url).origin
    expect(dataOf(failing)).toMatchObject({
      origin,
      last_error: { code: 'callback_http_status' },
    })
    expect(dataOf(recovered)).toEqual({ origin })
    expect(dataOf(dead)).toMatchObject({
      id: gone.id,
      callback_origin: origin,
      error: { code: 'callback_gone' },
    })
    // Both tries of the failing event carry one webhook-id.
    expect(new Set(isType('endpoint.failing').map((e) => e.headers.get('webhook-id'))).size).toBe(1)
  }, 15_000)
})

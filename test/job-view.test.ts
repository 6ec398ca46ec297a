import { afterAll, expect, test } from 'bun:test'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'

/*
 * GET /jobs/{id} says what a job's state means: a lease that ran out reads as claimable
 * again, and a dead job says why it died.
 */

const relays: TestRelay[] = []
afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()))
})

test('a processing job whose lease ran out reads as queued, with its attempt still counted', async () => {
  const clock = new ManualClock()
  // No worker of its own: the job is claimed by a worker that then goes silent.
  const relay = await startTestRelay({ RELAY_ROLE: 'api', JOB_LEASE: '30s' }, { clock })
  relays.push(relay)
  const { id } = await relay.send('held by a ghost')
  const [claimed] = await relay.store.claimJobs({
    workerId: 'ghost',
    now: clock.now(),
    leaseMs: 30_000,
    limit: 1,
    llmLimit: 1,
  })
  expect(claimed?.id).toBe(id)
  expect(await relay.job(id)).toMatchObject({ status: 'processing', attempts: { llm: 1 } })
  await clock.advance(29_999)
  expect((await relay.job(id)).status).toBe('processing')
  await clock.advance(1)
  expect(await relay.job(id)).toMatchObject({ status: 'queued', attempts: { llm: 1 } })
})

test('a dead job shows the error of its last delivery attempt', async () => {
  const relay = await startTestRelay()
  relays.push(relay)
  relay.sink.fail(500)
  const { id } = await relay.send('never received')
  const dead = await relay.waitForStatus(id, 'dead')
  expect(dead.error?.code).toBe('callback_http_status')
  expect(dead.error).toEqual(dead.deliveries.at(-1)?.error ?? null)
  expect(dead.response).toBe('echo: never received')
})

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { runHousekeeping } from '../src/worker/housekeeping.ts'
import { ManualClock } from './support/manual-clock.ts'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay()
})
afterAll(() => relay.close())

test('/metrics speaks Prometheus: jobs, queue depth, LLM and delivery timings, HTTP requests', async () => {
  relay.sink.respond(500)
  const { id } = await relay.send('measure me', { conversation_id: 'metrics' })
  await relay.waitForStatus(id, 'delivered')
  const response = await fetch(`${relay.url}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
  const text = await response.text()
  expect(text).toContain('# TYPE llm_relay_jobs_accepted_total counter')
  expect(text).toMatch(/^llm_relay_jobs_accepted_total [1-9]/m)
  expect(text).toContain('llm_relay_jobs_finished_total{status="delivered",type="completed"} 1')
  // The gauge holds unfinished jobs only; the delivered one is in the counter above.
  expect(text).toContain('llm_relay_queue_depth{status="queued"} 0')
  expect(text).toContain('llm_relay_queue_depth{status="delivering"} 0')
  expect(text).not.toContain('llm_relay_queue_depth{status="delivered"}')
  expect(text).toMatch(/^llm_relay_jobs_in_flight \d+$/m)
  expect(text).toContain('llm_relay_llm_call_duration_seconds_count{model="fake/model",outcome="ok"} 1')
  expect(text).toContain('llm_relay_delivery_attempts_total{outcome="retry"} 1')
  expect(text).toContain('llm_relay_delivery_attempts_total{outcome="delivered"} 1')
  expect(text).toContain('llm_relay_delivery_duration_seconds_bucket{outcome="delivered",le="+Inf"} 1')
  expect(text).toMatch(
    /llm_relay_http_request_duration_seconds_count\{method="POST",route="\/webhook",status="202"\} 1/,
  )
})

test('LLM errors are counted by code and model', async () => {
  relay.llm.next(() => Response.json({ error: { message: 'no' } }, { status: 401 }))
  const { id } = await relay.send('fail for metrics', { conversation_id: 'metrics-fail' })
  await relay.waitForStatus(id, 'delivered')
  const text = await (await fetch(`${relay.url}/metrics`)).text()
  expect(text).toContain('llm_relay_llm_errors_total{code="llm_auth",model="fake/model"} 1')
  expect(text).toContain('llm_relay_jobs_finished_total{status="delivered",type="failed"} 1')
})

test('X-Request-Id is taken when sane, made when not, and returned on every answer', async () => {
  const given = await fetch(`${relay.url}/health`, { headers: { 'x-request-id': 'abc-123' } })
  expect(given.headers.get('x-request-id')).toBe('abc-123')
  const made = await fetch(`${relay.url}/jobs/nope`, { headers: { 'x-request-id': 'bad id with spaces' } })
  expect(made.status).toBe(404)
  expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  const logged = relay.logs.find((l) => l.includes('"request_id":"abc-123"'))
  expect(logged).toContain('"route":"/health"')
  expect(logged).toContain('"status":200')
})

test('housekeeping deletes finished jobs past RETENTION and keeps history', async () => {
  const { id } = await relay.send('old news', { conversation_id: 'retention' })
  await relay.waitForStatus(id, 'delivered')
  const waiting = relay.llm.hold()
  const pending = await relay.send('still in line', { conversation_id: 'retention-pending' })
  await waiting.received
  const report = await runHousekeeping({
    store: relay.store,
    logger: (await import('../src/log.ts')).createLogger('silent'),
    clock: new ManualClock(Date.now() + 8 * 86_400_000),
    retentionMs: 7 * 86_400_000,
    historyRetentionMs: undefined,
  })
  expect(report.jobsDeleted).toBeGreaterThan(0)
  expect(report.messagesDeleted).toBe(0)
  expect((await fetch(`${relay.url}/jobs/${id}`)).status).toBe(404)
  expect((await relay.job(pending.id)).status).toBe('processing')
  const history = (await (await fetch(`${relay.url}/conversations/retention`)).json()) as {
    messages: unknown[]
  }
  expect(history.messages).toHaveLength(2)
  waiting.release()
  await relay.waitForStatus(pending.id, 'delivered')

  const purged = await runHousekeeping({
    store: relay.store,
    logger: (await import('../src/log.ts')).createLogger('silent'),
    clock: new ManualClock(Date.now() + 8 * 86_400_000),
    retentionMs: 7 * 86_400_000,
    historyRetentionMs: 86_400_000,
  })
  expect(purged.messagesDeleted).toBeGreaterThan(0)
  expect((await fetch(`${relay.url}/conversations/retention`)).status).toBe(404)
})

test('histogram buckets are cumulative, as Prometheus reads them', async () => {
  const { Histogram } = await import('../src/metrics.ts')
  const h = new Histogram('t_seconds', 'test', [0.1, 1, 10])
  for (const v of [0.05, 0.5, 0.5, 5, 50]) h.observe({ route: '/x' }, v)
  expect(h.render().slice(2)).toEqual([
    't_seconds_bucket{route="/x",le="0.1"} 1',
    't_seconds_bucket{route="/x",le="1"} 3',
    't_seconds_bucket{route="/x",le="10"} 4',
    't_seconds_bucket{route="/x",le="+Inf"} 5',
    't_seconds_sum{route="/x"} 56.05',
    't_seconds_count{route="/x"} 5',
  ])
})

test('LOG_FORMAT=pretty turns a JSON log line into one readable line', async () => {
  const { prettyLine } = await import('../src/log.ts')
  const line = prettyLine(
    JSON.stringify({
      level: 'warn',
      time: '2026-01-01T12:34:56.789Z',
      service: 'llm-relay',
      msg: 'callback failed',
      job_id: 'j1',
      status_code: 500,
    }),
    false,
  )
  expect(line).toBe('12:34:56.789 WARN  callback failed job_id=j1 status_code=500\n')
  expect(prettyLine('not json', false)).toBe('not json')
})

test('the request line of a POST /webhook that accepted a job is also the job’s acceptance line', async () => {
  const response = await relay.post(
    { message: 'hello', callback_url: `${relay.sink.url}/hook`, conversation_id: 'first-line' },
    { 'x-request-id': 'accept-1' },
  )
  const { id } = (await response.json()) as { id: string }
  await relay.waitForStatus(id, 'delivered')
  const lines = relay.logs.map((l) => JSON.parse(l) as Record<string, unknown>)
  const accepted = lines.filter((l) => l.job_id === id && l.outcome === 'accepted')
  expect(accepted).toHaveLength(1)
  expect(accepted[0]).toMatchObject({
    msg: 'request',
    request_id: 'accept-1',
    route: '/webhook',
    status: 202,
    job_id: id,
    conversation_id: 'first-line',
    outcome: 'accepted',
  })
  expect(lines.filter((l) => l.msg === 'job accepted')).toHaveLength(0)
})

test('standard output gets one write per turn of the event loop, in order, and the rest at flush', async () => {
  const { BatchedWriter } = await import('../src/log.ts')
  const { closeSync, openSync, readFileSync } = await import('node:fs')
  const path = `${relay.dir}/batched.log`
  const fd = openSync(path, 'w')
  const writer = new BatchedWriter(fd)
  writer.write('one\n')
  writer.write('two\n')
  expect(readFileSync(path, 'utf8')).toBe('')
  await new Promise((resolve) => setImmediate(resolve))
  expect(readFileSync(path, 'utf8')).toBe('one\ntwo\n')
  // Past 64 KiB pending, a write goes out at once; a flush (as at exit) writes what is left.
  const big = `${'x'.repeat(70_000)}\n`
  writer.write('three\n')
  writer.write(big)
  expect(readFileSync(path, 'utf8')).toBe(`one\ntwo\nthree\n${big}`)
  writer.write('four\n')
  writer.flush()
  expect(readFileSync(path, 'utf8')).toBe(`one\ntwo\nthree\n${big}four\n`)
  closeSync(fd)
})

test('log lines still pending when the process dies of an uncaught error are written', async () => {
  const { runCommand } = await import('./support/process.ts')
  const { join } = await import('node:path')
  const log = join(import.meta.dir, '..', 'src', 'log.ts')
  const script = `import { createLogger } from ${JSON.stringify(log)}
const logger = createLogger('info')
logger.info('first')
setTimeout(() => { logger.info('second, in the turn that throws'); throw new Error('boom') }, 5)`
  const { code, out } = await runCommand([process.execPath, '-e', script])
  expect(code).not.toBe(0)
  expect(
    out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).msg),
  ).toEqual(['first', 'second, in the turn that throws'])
})

test('a start warns when LLM calls and callbacks together may exceed what Bun keeps open', async () => {
  const wide = await startTestRelay({ WORKER_CONCURRENCY: '200' })
  const raised = await startTestRelay({ WORKER_CONCURRENCY: '200', BUN_CONFIG_MAX_HTTP_REQUESTS: '400' })
  try {
    const warning = (logs: string[]) => logs.filter((l) => l.includes('BUN_CONFIG_MAX_HTTP_REQUESTS='))
    expect(warning(wide.logs)).toHaveLength(1)
    expect(warning(wide.logs)[0]).toContain('set BUN_CONFIG_MAX_HTTP_REQUESTS=400 or more')
    expect(warning(raised.logs)).toHaveLength(0)
    expect(warning(relay.logs)).toHaveLength(0)
  } finally {
    await wide.close()
    await raised.close()
  }
})

import { expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { systemClock } from '../src/clock.ts'
import { Problem, problemResponse } from '../src/http/problem.ts'
import { apiRateLimit } from '../src/http/rate-limit.ts'
import { MemoryRateLimitStore } from '../src/limits/rate-limit-store.ts'

const anonymous = () => ({ owner: '', settings: { rateLimit: null } })

/** The rate limit on a small app of its own: a route that answers, one the relay fails, and /health. */
function app(max: number) {
  let outage = true
  // As in the app: the limit's hooks before the problem mapping.
  const limited = new Elysia()
    .use(
      apiRateLimit({ max, windowMs: 60_000, store: new MemoryRateLimitStore(systemClock) }, anonymous, {
        trustProxy: false,
        clock: systemClock,
      }),
    )
    .onError(({ error }) => (error instanceof Problem ? problemResponse(error, '') : undefined))
    .get('/health', () => 'ok')
    .get('/jobs', () => 'ok')
    .get('/fails', () => {
      if (outage) throw new Problem(503, 'The store is away.', undefined, { 'retry-after': '5' })
      return 'back'
    })
  return {
    get: (path: string) => limited.handle(new Request(`http://relay.test${path}`)),
    recover: () => {
      outage = false
    },
  }
}

test('each request counts once, with RateLimit headers; past the limit a 429 with Retry-After; /health is free', async () => {
  const relay = app(2)
  const first = await relay.get('/jobs')
  const second = await relay.get('/jobs')
  expect([first.status, second.status]).toEqual([200, 200])
  expect([first.headers.get('ratelimit-remaining'), second.headers.get('ratelimit-remaining')]).toEqual([
    '1',
    '0',
  ])
  expect(second.headers.get('ratelimit-limit')).toBe('2')
  expect(Number(second.headers.get('ratelimit-reset'))).toBeGreaterThan(0)
  const over = await relay.get('/jobs')
  expect(over.status).toBe(429)
  expect(over.headers.get('content-type')).toStartWith('application/problem+json')
  expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0)
  expect(over.headers.get('ratelimit-remaining')).toBe('0')
  expect((await relay.get('/health')).status).toBe(200)
  // An unknown route counts too: a flood of wrong paths is no free pass.
  expect((await relay.get('/nowhere')).status).toBe(429)
})

test('a request the relay fails with a 5xx is given back: an outage does not use up the client’s window', async () => {
  const relay = app(2)
  for (let i = 0; i < 5; i++) expect((await relay.get('/fails')).status).toBe(503)
  relay.recover()
  expect((await relay.get('/fails')).status).toBe(200)
  expect((await relay.get('/jobs')).status).toBe(200)
  expect((await relay.get('/jobs')).status).toBe(429)
})

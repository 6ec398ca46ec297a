import { describe, expect, test } from 'bun:test'
import { APIError } from 'openai'
import { parseConfig } from '../src/config/config.ts'
import { classifyLlmError } from '../src/llm/classify.ts'
import { configuredSecrets, REDACTED, SecretScrubber } from '../src/scrub.ts'

const KEY = 'llm-key-0123456789abcdef-not-shaped-like-anything'
const API_KEY = 'api-key-fedcba9876543210'
const scrubber = new SecretScrubber([KEY, API_KEY])
const scrub = (text: string) => scrubber.scrub(text)

describe('the secret scrubber removes', () => {
  test('a configured secret, wherever it stands', () => {
    expect(scrub(`Invalid key ${KEY}.`)).toBe(`Invalid key ${REDACTED}.`)
    expect(scrub(`${KEY}${API_KEY}`)).toBe(`${REDACTED}${REDACTED}`)
  })

  test('a configured secret as an echo may spell it: URL-encoded, JSON-escaped', () => {
    const odd = 'p@ss/word "quoted" and more'
    const s = new SecretScrubber([odd])
    expect(s.scrub(`url: ${encodeURIComponent(odd)}`)).toBe(`url: ${REDACTED}`)
    expect(s.scrub(`json: ${JSON.stringify({ k: odd })}`)).toBe(`json: {"k":"${REDACTED}"}`)
  })

  test('a secret that contains another, whole', () => {
    const s = new SecretScrubber(['abcd1234', 'xxabcd1234yy'])
    expect(s.scrub('got xxabcd1234yy')).toBe(`got ${REDACTED}`)
  })

  test('any bearer token, sk- key or whsec_ secret, configured or not', () => {
    expect(scrub('Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl')).toBe(
      `Authorization: Bearer ${REDACTED}`,
    )
    expect(scrub('bad key sk-or-v1-5f3a9c0d1e2b4a6c')).toBe(`bad key sk-${REDACTED}`)
    expect(scrub('Incorrect API key provided: sk-proj-abc***xyz')).toBe(
      `Incorrect API key provided: sk-${REDACTED}***xyz`,
    )
    expect(scrub('secret whsec_c2VjcmV0LXNlY3JldA==!')).toBe(`secret whsec_${REDACTED}!`)
  })

  test('and leaves ordinary text alone', () => {
    for (const text of ['the bearer of bad news', 'a task-list', 'Bearer token', 'rate-limited upstream'])
      expect(scrub(text)).toBe(text)
    // Too short to be a secret worth what removing it everywhere would cost.
    expect(new SecretScrubber(['ab', '', undefined]).scrub('abc')).toBe('abc')
  })
})

test('an LLM error is scrubbed before it is cut short, so no cut leaves the start of a secret', () => {
  const body = `${'x'.repeat(480)} ${KEY}`
  const failure = classifyLlmError(
    new APIError(401, { message: body }, undefined, new Headers()),
    Date.now(),
    scrub,
  )
  expect(failure.message).not.toContain(KEY.slice(0, 12))
  expect(failure.message.length).toBeLessThanOrEqual(530)
})

test('every secret of the configuration is collected: LLM key, signing secret, API keys, database and Redis passwords', () => {
  const signing = `whsec_${Buffer.from('a-signing-secret-of-some-length').toString('base64')}`
  const config = parseConfig({
    LLM_API_KEY: KEY,
    CALLBACK_SECRET: signing,
    API_KEYS: `crm:${API_KEY}`,
    DATABASE_URL: 'postgres://relay:db%2Fpass%40word@db.internal:5432/relay',
    REDIS_URL: 'redis://:redis-pass-123@cache:6379',
  })
  const secrets = configuredSecrets(config)
  for (const secret of [
    KEY,
    signing,
    signing.slice('whsec_'.length),
    API_KEY,
    'db/pass@word',
    'db%2Fpass%40word',
    'redis-pass-123',
  ])
    expect(secrets).toContain(secret)
  const s = new SecretScrubber(secrets)
  expect(s.scrub('connect failed for relay:db/pass@word at db.internal')).toBe(
    `connect failed for relay:${REDACTED} at db.internal`,
  )
})

import { describe, expect, test } from 'bun:test'
import { ConfigError, parseConfig } from '../src/config/config.ts'
import { describeConfig } from '../src/config/describe.ts'
import { parseDuration } from '../src/config/duration.ts'

describe('durations', () => {
  test.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['1500', 1500],
    [' 2s ', 2000],
  ])('%p reads as %p ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })
  test.each(['', 'soon', '10 minutes', '-5s', '5x'])('%p is refused', (text) => {
    expect(parseDuration(text)).toBeUndefined()
  })
})

describe('configuration', () => {
  test('the defaults are the documented ones', () => {
    const c = parseConfig({})
    expect(c.port).toBe(3000)
    expect(c.host).toBe('0.0.0.0')
    expect(c.database).toEqual({ kind: 'sqlite', path: './data/llm-relay.db' })
    expect(c.llmBaseUrl).toBe('https://openrouter.ai/api/v1')
    expect(c.llmModel).toBe('openrouter/free')
    expect(c.llmTimeout).toBe(60_000)
    expect(c.llmRetrySchedule).toEqual([2000, 10_000, 30_000, 120_000])
    expect(c.callbackRetrySchedule).toEqual([
      5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ])
    expect(c.callbackTimeout).toBe(10_000)
    expect(c.historyMaxMessages).toBe(20)
    expect(c.maxMessageChars).toBe(32_000)
    expect(c.workerConcurrency).toBe(16)
    expect(c.jobLease).toBe(120_000)
    expect(c.llmApiKey).toBeUndefined()
  })

  test('LLM_MAX_RPM defaults to 20 for free models and to no limit otherwise', () => {
    expect(parseConfig({}).llmMaxRpm).toBe(20)
    expect(parseConfig({ LLM_MODEL: 'meta-llama/llama-3.3-70b-instruct:free' }).llmMaxRpm).toBe(20)
    expect(parseConfig({ LLM_MODEL: 'openai/gpt-4o' }).llmMaxRpm).toBe(0)
    expect(parseConfig({ LLM_MODEL: 'openai/gpt-4o', LLM_MAX_RPM: '100' }).llmMaxRpm).toBe(100)
  })

  test('OPENROUTER_API_KEY is read when LLM_API_KEY is not set', () => {
    expect(parseConfig({ OPENROUTER_API_KEY: 'sk-or-abc' }).llmApiKey).toBe('sk-or-abc')
    expect(parseConfig({ OPENROUTER_API_KEY: 'sk-or-abc', LLM_API_KEY: 'sk-main' }).llmApiKey).toBe('sk-main')
  })

  test('database URLs', () => {
    expect(parseConfig({ DATABASE_URL: 'sqlite::memory:' }).database).toEqual({
      kind: 'sqlite',
      path: ':memory:',
    })
    expect(parseConfig({ DATABASE_URL: 'sqlite:/var/lib/relay.db' }).database).toEqual({
      kind: 'sqlite',
      path: '/var/lib/relay.db',
    })
    expect(parseConfig({ DATABASE_URL: 'postgres://u@h/db' }).database).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h/db',
      schema: undefined,
    })
    expect(
      parseConfig({ DATABASE_URL: 'postgres://u@h:5432/db?schema=relay_a&sslmode=require' }).database,
    ).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h:5432/db?sslmode=require',
      schema: 'relay_a',
    })
    expect(() => parseConfig({ DATABASE_URL: 'postgres://u@h/db?schema=Bad-Name' })).toThrow(ConfigError)
  })

  test('every bad variable is named, one line each', () => {
    let error: ConfigError | undefined
    try {
      parseConfig({
        PORT: '70000',
        LLM_TIMEOUT: 'soon',
        CALLBACK_RETRY_SCHEDULE: '5s,later',
        ALLOW_PRIVATE_CALLBACK_URLS: 'maybe',
        CALLBACK_SECRET: 'plain-secret',
        LOG_LEVEL: 'loud',
        LLM_BASE_URL: 'not a url',
      })
    } catch (e) {
      error = e as ConfigError
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect(error?.problems.map((p) => p.split(':')[0])).toEqual([
      'PORT',
      'LLM_BASE_URL',
      'LLM_TIMEOUT',
      'CALLBACK_SECRET',
      'CALLBACK_RETRY_SCHEDULE',
      'ALLOW_PRIVATE_CALLBACK_URLS',
      'LOG_LEVEL',
    ])
  })

  test('describeConfig masks secrets', () => {
    const secret = `whsec_${Buffer.from('0123456789abcdef0123').toString('base64')}`
    const shown = describeConfig(
      parseConfig({
        LLM_API_KEY: 'sk-very-secret',
        CALLBACK_SECRET: secret,
        API_KEYS: 'ci:0123456789abcdefXYZ',
      }),
    )
    const text = JSON.stringify(shown)
    expect(text).not.toContain('sk-very-secret')
    expect(text).not.toContain(secret)
    expect(text).not.toContain('0123456789abcdefXYZ')
    expect(shown.LLM_API_KEY).toBe('***')
    expect(shown.PORT).toBe('3000')
  })
})

describe('settings that cannot work are refused at parse time, naming the variable', () => {
  const problem = (env: Record<string, string>): string => {
    try {
      parseConfig(env)
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.join('\n')
      throw error
    }
    throw new Error(`accepted ${JSON.stringify(env)}`)
  }

  test('an empty LLM_MODEL (the LLM would be asked for model "")', () => {
    expect(problem({ LLM_MODEL: '' })).toStartWith('LLM_MODEL: must not be empty')
    expect(problem({ LLM_MODEL: '  ' })).toStartWith('LLM_MODEL:')
  })

  test('a URL in CALLBACK_ALLOWED_HOSTS, which holds host names', () => {
    const text = problem({ CALLBACK_ALLOWED_HOSTS: 'hooks.example.com,http://x.com' })
    expect(text).toStartWith('CALLBACK_ALLOWED_HOSTS: "http://x.com" is not a hostname')
    expect(text).toContain('(here: x.com)')
    expect(problem({ CALLBACK_ALLOWED_HOSTS: 'x.com/hooks' })).toStartWith('CALLBACK_ALLOWED_HOSTS:')
    expect(problem({ CALLBACK_ALLOWED_HOSTS: 'user@x.com' })).toStartWith('CALLBACK_ALLOWED_HOSTS:')
  })

  test('CALLBACK_ALLOWED_HOSTS still takes names, suffixes and IP addresses', () => {
    expect(
      parseConfig({
        CALLBACK_ALLOWED_HOSTS: 'Hooks.Example.com., .partner.io,127.0.0.1,[::1],::1,callback-receiver',
      }).callbackAllowedHosts,
    ).toEqual(['hooks.example.com', '.partner.io', '127.0.0.1', '[::1]', '::1', 'callback-receiver'])
  })

  test('a HOST that is neither an address nor a host name (the start would fail with EINVAL)', () => {
    expect(problem({ HOST: 'not_a_host' })).toStartWith('HOST: must be an IP address')
    expect(problem({ HOST: '' })).toStartWith('HOST:')
    expect(problem({ HOST: 'http://0.0.0.0' })).toStartWith('HOST:')
    expect(problem({ HOST: '[::1]' })).toBe('HOST: must be written without brackets, e.g. ::1')
    for (const host of ['0.0.0.0', '127.0.0.1', '::', '::1', 'localhost', 'relay.internal'])
      expect(parseConfig({ HOST: host }).host).toBe(host)
  })
})

describe('traces', () => {
  test('off by default; OTEL_EXPORTER_OTLP_ENDPOINT takes an http(s) base URL, OTEL_SERVICE_NAME names the service', () => {
    const off = parseConfig({})
    expect(off.otelEndpoint).toBeUndefined()
    expect(off.otelHeaders).toEqual({})
    expect(off.otelServiceName).toBe('llm-relay')
    const on = parseConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_SERVICE_NAME: 'relay-eu',
    })
    expect(on.otelEndpoint).toBe('http://collector:4318')
    expect(on.otelServiceName).toBe('relay-eu')
  })

  test('OTEL_EXPORTER_OTLP_HEADERS: name=value pairs, values URL-decoded, a secret masked by check-config', () => {
    const config = parseConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'X-Api-Key=abc%2C123, x-team = blue ' })
    expect(config.otelHeaders).toEqual({ 'x-api-key': 'abc,123', 'x-team': 'blue' })
    expect(describeConfig(config).OTEL_EXPORTER_OTLP_HEADERS).toBe('***')
  })

  test.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT:'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' }, 'OTEL_EXPORTER_OTLP_ENDPOINT:'],
    [{ OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' }, 'OTEL_EXPORTER_OTLP_HEADERS: must be name=value'],
    [{ OTEL_EXPORTER_OTLP_HEADERS: 'bad name=1' }, 'OTEL_EXPORTER_OTLP_HEADERS: must be name=value'],
    [{ OTEL_EXPORTER_OTLP_HEADERS: 'x=%E0%A4%A' }, 'OTEL_EXPORTER_OTLP_HEADERS: the value of x'],
    [{ OTEL_SERVICE_NAME: ' ' }, 'OTEL_SERVICE_NAME: must not be empty'],
  ])('%p is refused', (env, start) => {
    expect(() => parseConfig(env)).toThrow(start)
  })
})

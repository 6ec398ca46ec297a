import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../src/cli.ts'
import { type Config, parseConfig } from '../src/config/config.ts'
import { runCommand } from './support/process.ts'

/** `llm-relay check-config` with `env`, as printed. */
function checkConfig(env: Record<string, string>): string {
  const out: string[] = []
  const err: string[] = []
  const code = runCli(['check-config'], { out: (t) => out.push(t), err: (t) => err.push(t), env })
  expect({ code, err }).toEqual({ code: 0, err: [] })
  return out.join('\n')
}

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'llm-relay-check-config-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** What Bun itself reads from `text` as a `.env` file, in a process with no other environment. */
async function readAsDotEnv(text: string): Promise<Record<string, string>> {
  writeFileSync(join(dir, '.env'), text)
  const run = await runCommand(
    [process.execPath, '-e', 'process.stdout.write(JSON.stringify(process.env))'],
    { cwd: dir, env: { PATH: process.env.PATH ?? '' } },
  )
  expect(run.err).toBe('')
  return JSON.parse(run.out) as Record<string, string>
}

// Every variable away from its default, in spellings other than the ones check-config writes.
const unusual: Record<string, string> = {
  PORT: '8080',
  HOST: '127.0.0.1',
  PUBLIC_URL: 'https://relay.example.com/',
  SHUTDOWN_TIMEOUT: '45000',
  DATABASE_URL: 'postgres://relay@db.internal:5432/relay?schema=relay_a&sslmode=require',
  DATABASE_POOL_MAX: '4',
  REDIS_URL: 'redis://cache.internal:6379/2',
  RELAY_ROLE: 'worker',
  RETENTION: '604800000',
  HISTORY_RETENTION: '720h',
  LLM_BASE_URL: 'http://127.0.0.1:11434/v1/',
  LLM_MODEL: 'meta-llama/llama-3.3-70b-instruct:free',
  LLM_FALLBACK_MODELS: 'a/b, c/d:free',
  LLM_TIMEOUT: '90s',
  LLM_RETRY_SCHEDULE: '1000,60s, 1h',
  LLM_MAX_RPM: '7',
  LLM_MAX_PAUSE: '10m',
  MAX_RESPONSE_CHARS: '5000',
  SYSTEM_PROMPT: 'You answer in "one" line. # not a comment; costs $0 and 100%\n  Second line ',
  HISTORY_MAX_MESSAGES: '0',
  MAX_MESSAGE_CHARS: '1000',
  WORKER_CONCURRENCY: '200',
  BUN_CONFIG_MAX_HTTP_REQUESTS: '300',
  JOB_LEASE: '90s',
  CALLBACK_TIMEOUT: '2500ms',
  CALLBACK_RETRY_SCHEDULE: '',
  ALLOW_PRIVATE_CALLBACK_URLS: 'yes',
  CALLBACK_ALLOWED_HOSTS: '.example.com,127.0.0.1',
  RATE_LIMIT_MAX: '0',
  RATE_LIMIT_WINDOW: '90m',
  TRUST_PROXY: 'on',
  MAX_BODY_BYTES: '2mb',
  DOCS_ENABLED: 'false',
  LOG_LEVEL: 'DEBUG',
  LOG_FORMAT: 'pretty',
  APP_URL: 'https://crm.example.com',
  APP_NAME: 'CRM bot (prod)',
}

describe('check-config prints settings an operator can paste back into .env', () => {
  test.each([
    ['the defaults', {}],
    ['every variable changed', unusual],
  ])('%s: read back by Bun as .env, they parse to the same config', async (_name, env) => {
    const config: Config = parseConfig(env)
    const printed = checkConfig(env)
    expect(parseConfig(await readAsDotEnv(printed))).toEqual(config)
  })

  test('durations and lists in the spelling the variables take; nothing as undefined', () => {
    const printed = checkConfig({ CALLBACK_RETRY_SCHEDULE: '5000,300000', RETENTION: '604800000' })
    expect(printed).toContain('\nCALLBACK_RETRY_SCHEDULE=5s,5m\n')
    expect(printed).toContain('\nRETENTION=7d\n')
    expect(printed).toContain('\nLLM_RETRY_SCHEDULE=2s,10s,30s,2m\n')
    expect(printed).toContain('\nMAX_BODY_BYTES=64KB\n')
    expect(printed).toContain('\nHISTORY_RETENTION=\n')
    expect(printed).toContain('\nREDIS_URL=\n')
    expect(printed).not.toContain('undefined')
    expect(printed).not.toContain('[')
  })

  test('every password in a URL is masked, the user kept; other secrets are masked whole', () => {
    const secret = `whsec_${Buffer.from('0123456789abcdef0123').toString('base64')}`
    const env = {
      DATABASE_URL: 'postgres://relay:pg-pass-123@db.internal:5432/relay?schema=relay_a',
      REDIS_URL: 'redis://default:redis-pass-456@cache.internal:6379',
      LLM_BASE_URL: 'https://proxy-user:llm-pass-789@llm.internal/v1',
      LLM_API_KEY: 'sk-or-very-secret',
      CALLBACK_SECRET: secret,
      API_KEYS: 'crm:0123456789abcdefXYZ,bare-key-0123456789abcdef',
    }
    const printed = checkConfig(env)
    for (const hidden of ['pg-pass-123', 'redis-pass-456', 'llm-pass-789', 'sk-or-very-secret', secret])
      expect(printed).not.toContain(hidden)
    expect(printed).not.toContain('0123456789abcdef')
    expect(printed).toContain('\nDATABASE_URL=postgres://relay:***@db.internal:5432/relay?schema=relay_a\n')
    expect(printed).toContain('\nREDIS_URL=redis://default:***@cache.internal:6379\n')
    expect(printed).toContain('\nLLM_BASE_URL=https://proxy-user:***@llm.internal/v1\n')
    expect(printed).toContain('\nLLM_API_KEY=***\n')
    expect(printed).toContain('\nCALLBACK_SECRET=***\n')
    expect(printed).toContain('\nAPI_KEYS=crm:***,***\n')
  })

  test('it repeats the warnings of a start', () => {
    const warnings = (env: Record<string, string>) =>
      checkConfig(env)
        .split('\n')
        .filter((line) => line.startsWith('# warning: '))
    const risky = warnings({ ALLOW_PRIVATE_CALLBACK_URLS: 'true', WORKER_CONCURRENCY: '200' })
    expect(risky.map((w) => w.slice('# warning: '.length).split(' ')[0])).toEqual([
      'no',
      'ALLOW_PRIVATE_CALLBACK_URLS',
      'WORKER_CONCURRENCY=200',
      'WORKER_CONCURRENCY=200:',
      'API_KEYS',
    ])
    expect(risky.join('\n')).toContain('LLM_API_KEY')
    expect(risky.join('\n')).toContain('BUN_CONFIG_MAX_HTTP_REQUESTS=400')
    expect(risky.join('\n')).toContain('set LLM_HTTP2=true')
    expect(warnings({ LLM_API_KEY: 'sk-or-a', API_KEYS: 'crm:0123456789abcdefXYZ' })).toEqual([])
    // HTTP/2 asked for, or an http:// API (no TLS handshake to repeat): no word of reconnects.
    const reconnects = (env: Record<string, string>) =>
      warnings({ WORKER_CONCURRENCY: '200', BUN_CONFIG_MAX_HTTP_REQUESTS: '400', ...env }).filter((w) =>
        w.includes('idle HTTP/1.1 connections'),
      )
    expect(reconnects({})).toHaveLength(1)
    expect(reconnects({ LLM_HTTP2: 'true' })).toEqual([])
    expect(reconnects({ LLM_BASE_URL: 'http://127.0.0.1:8080/v1' })).toEqual([])
    expect(reconnects({ WORKER_CONCURRENCY: '32' })).toEqual([])
  })
})

test('--help names every command, serve included', () => {
  const out: string[] = []
  expect(runCli(['--help'], { out: (t) => out.push(t), err: () => {}, env: {} })).toBe(0)
  for (const command of ['serve', 'check-config', 'healthcheck', '--version', '--help'])
    expect(out.join('\n')).toContain(`llm-relay ${command} `)
})

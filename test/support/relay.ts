import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { parseConfig } from '../../src/config/config.ts'
import type { JobView } from '../../src/http/schemas.ts'
import { createLogger } from '../../src/log.ts'
import { type Relay, type RelayParts, startRelay } from '../../src/main.ts'
import { CallbackSink } from './callback-sink.ts'
import { FakeLlm } from './fake-llm.ts'
import { eventually } from './signal.ts'

/** The job view's type is the schema's (src/http/schemas.ts), not a copy. */
export type { JobView } from '../../src/http/schemas.ts'

export const TEST_LLM_KEY = 'sk-test-llm-key-0123456789abcdef'

/** Environment for a relay under test: fast schedules, loopback callbacks allowed, quiet. */
export function testEnv(
  dir: string,
  llm: FakeLlm,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
    HOST: '127.0.0.1',
    PORT: '0',
    LLM_BASE_URL: llm.url,
    LLM_API_KEY: TEST_LLM_KEY,
    LLM_MODEL: 'fake/model',
    LLM_RETRY_SCHEDULE: '20ms,20ms,20ms',
    CALLBACK_RETRY_SCHEDULE: '20ms,20ms',
    ALLOW_PRIVATE_CALLBACK_URLS: 'true',
    LOG_LEVEL: 'debug',
    RATE_LIMIT_MAX: '0',
    ...extra,
  }
}

export interface TestRelay extends Relay {
  dir: string
  llm: FakeLlm
  sink: CallbackSink
  logs: string[]
  post(body: unknown, headers?: Record<string, string>): Promise<Response>
  send(message: string, extra?: Record<string, unknown>): Promise<{ id: string; conversation_id: string }>
  job(id: string): Promise<JobView>
  waitForStatus(id: string, ...statuses: string[]): Promise<JobView>
  countJobs(): number
  close(): Promise<void>
}

/** A real relay on 127.0.0.1 with a temp SQLite file, a fake LLM and a callback sink. */
export async function startTestRelay(
  env: Record<string, string> = {},
  parts: Omit<RelayParts, 'logger'> = {},
): Promise<TestRelay> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-relay-test-'))
  const llm = new FakeLlm()
  const sink = new CallbackSink()
  const config = parseConfig(testEnv(dir, llm, env))
  const logs: string[] = []
  const logger = createLogger(
    config.logLevel,
    new Writable({
      write(chunk, _enc, done) {
        logs.push(String(chunk))
        done()
      },
    }),
  )
  const relay = await startRelay(config, { ...parts, logger })
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${relay.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
  const job = async (id: string) => (await (await fetch(`${relay.url}/jobs/${id}`)).json()) as JobView
  return {
    ...relay,
    dir,
    llm,
    sink,
    logs,
    post,
    async send(message, extra = {}) {
      const response = await post({ message, callback_url: `${sink.url}/hook`, ...extra })
      if (response.status !== 202)
        throw new Error(`expected 202, got ${response.status}: ${await response.text()}`)
      return (await response.json()) as { id: string; conversation_id: string }
    },
    job,
    waitForStatus: (id, ...statuses) =>
      eventually(
        async () => {
          const view = await job(id)
          return statuses.includes(view.status) && view
        },
        `job ${id} to be ${statuses.join(' or ')}`,
      ),
    countJobs() {
      const db = new Database(join(dir, 'relay.db'), { readonly: true })
      try {
        return (db.query('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n
      } finally {
        db.close()
      }
    },
    async close() {
      await relay.stop()
      llm.stop()
      sink.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

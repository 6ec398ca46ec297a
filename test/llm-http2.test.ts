import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isHttp2Unsupported, preferHttp2 } from '../src/llm/http2-fetch.ts'
import type { OpenAiLlmClient } from '../src/llm/openai-client.ts'
import { CallbackSink } from './support/callback-sink.ts'
import { FakeLlm } from './support/fake-llm.ts'
import { freePort } from './support/free-port.ts'
import { testLlmClient } from './support/llm-client.ts'
import { spawnRelay } from './support/process.ts'
import { asFetch, startTlsLlm, TEST_CERT_PATH, type TlsLlm, trustingFetch } from './support/tls-llm.ts'

const client = (baseUrl: string, http2: boolean, through: typeof fetch = trustingFetch) =>
  testLlmClient(baseUrl, { http2, fetch: through })

const ask = (llm: OpenAiLlmClient, content: string) =>
  llm.complete({ model: 'fake/model', messages: [{ role: 'user', content }] })

const answers = async (llm: OpenAiLlmClient, count: number) =>
  (await Promise.all(Array.from({ length: count }, (_, i) => ask(llm, `m${i}`)))).map((r) =>
    r.ok ? r.answer.content : r.failure.code,
  )

const servers: TlsLlm[] = []
afterAll(async () => {
  for (const server of servers) await server.stop()
})
async function server(speaks: 'http2' | 'http1'): Promise<TlsLlm> {
  const started = await startTlsLlm(speaks)
  servers.push(started)
  return started
}

describe('LLM_HTTP2', () => {
  test('an API that speaks HTTP/2 takes 50 calls at once on one connection', async () => {
    const api = await server('http2')
    const got = await answers(client(api.url, true), 50)
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `echo: m${i}`))
    expect(api.calls.map((c) => c.httpVersion)).toEqual(Array(50).fill('2.0'))
    expect(api.connections()).toBe(1)
  })

  test('an HTTP/1.1-only API gets every call once, over HTTP/1.1, and is not offered HTTP/2 again', async () => {
    const api = await server('http1')
    let offered = 0
    const counting = asFetch((input, init) => {
      if ((init as BunFetchRequestInit | undefined)?.protocol === 'http2') offered++
      return trustingFetch(input, init)
    })
    const llm = client(api.url, true, counting)
    expect(await answers(llm, 1)).toEqual(['echo: m0'])
    expect(offered).toBe(1)
    expect(await answers(llm, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `echo: m${i}`))
    expect(api.calls).toHaveLength(11)
    expect(offered).toBe(1)
    expect(new Set(api.calls.map((c) => c.httpVersion))).toEqual(new Set(['1.1']))
    expect(api.calls.map((c) => c.body.messages.at(-1)?.content).sort()).toEqual(
      ['m0', ...Array.from({ length: 10 }, (_, i) => `m${i}`)].sort(),
    )
  })

  test('a plain http:// API is called over HTTP/1.1, each call once', async () => {
    const llm = new FakeLlm()
    try {
      const got = await answers(client(llm.url, true), 5)
      expect(got.every((a) => a.startsWith('echo'))).toBe(true)
      expect(llm.calls).toHaveLength(5)
    } finally {
      llm.stop()
    }
  })

  test('off (the default), calls go over HTTP/1.1 even to an API that speaks HTTP/2', async () => {
    const api = await server('http2')
    expect(await answers(client(api.url, false), 3)).toHaveLength(3)
    expect(new Set(api.calls.map((c) => c.httpVersion))).toEqual(new Set(['1.1']))
  })

  test('any other failure is the call’s own: thrown as it came, with no second try', async () => {
    const port = freePort()
    let tries = 0
    const counting = asFetch((input, init) => {
      tries++
      return fetch(input, init)
    })
    const error = await preferHttp2(counting)(`https://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      body: '{}',
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    expect(isHttp2Unsupported(error)).toBe(false)
    expect(tries).toBe(1)
  })
})

test('a relay with LLM_HTTP2=true answers its jobs over HTTP/2, and its start does not warn of reconnects', async () => {
  const api = await server('http2')
  const sink = new CallbackSink()
  const dir = mkdtempSync(join(tmpdir(), 'relay-http2-'))
  const relay = await spawnRelay(
    {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      HOST: '127.0.0.1',
      PORT: String(freePort()),
      LLM_BASE_URL: api.url,
      LLM_API_KEY: 'sk-test',
      LLM_MODEL: 'fake/model',
      LLM_MAX_RPM: '0',
      LLM_HTTP2: 'true',
      WORKER_CONCURRENCY: '100',
      BUN_CONFIG_MAX_HTTP_REQUESTS: '200',
      ALLOW_PRIVATE_CALLBACK_URLS: 'true',
      // The test certificate, trusted the way an operator trusts a private CA.
      NODE_EXTRA_CA_CERTS: TEST_CERT_PATH,
    },
    dir,
  )
  try {
    const posted = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${relay.url}/webhook`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ message: `job ${i}`, callback_url: `${sink.url}/hook` }),
        }),
      ),
    )
    expect(posted.map((r) => r.status)).toEqual(Array(20).fill(202))
    await sink.waitFor(20)
    expect(sink.received.map((r) => r.body.data.response).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `echo: job ${i}`).sort(),
    )
    expect(api.calls.map((c) => c.httpVersion)).toEqual(Array(20).fill('2.0'))
    expect(api.connections()).toBe(1)
    expect(relay.output()).not.toContain('idle HTTP/1.1 connections')
  } finally {
    relay.process.kill()
    await relay.process.exited
    sink.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CallbackSink } from './support/callback-sink.ts'
import { FakeLlm } from './support/fake-llm.ts'
import { OtlpReceiver } from './support/otlp-receiver.ts'
import { runCommand, spawnRelay } from './support/process.ts'
import { testEnv } from './support/relay.ts'

// The compiled executable, built the way `bun run build` builds it, then run from an empty
// folder: it must need nothing beside it but its environment.
let dir: string
let binary: string
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llm-relay-binary-'))
  binary = join(dir, 'llm-relay')
  const build = Bun.spawn(
    [
      process.execPath,
      'build',
      'src/main.ts',
      '--compile',
      '--minify',
      '--keep-names',
      '--bytecode',
      '--outfile',
      binary,
    ],
    { cwd: join(import.meta.dir, '..'), stdout: 'pipe', stderr: 'pipe' },
  )
  if ((await build.exited) !== 0) throw new Error(await new Response(build.stderr).text())
}, 60_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = (...args: string[]) => runCommand([binary, ...args], { cwd: dir, env: { PATH: '' } })

test('--version, --help and check-config answer without starting', async () => {
  const version = await run('--version')
  expect(version.code).toBe(0)
  expect(version.out.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  const help = await run('--help')
  expect(help.out).toContain('check-config')
  expect(help.out).toContain('DATABASE_URL')
  const check = await run('check-config')
  expect(check.code).toBe(0)
  expect(check.out).toContain('PORT=3000')
})

test('the binary serves: /health, the embedded docs, one job through, then SIGTERM', async () => {
  const llm = new FakeLlm()
  const sink = new CallbackSink()
  try {
    const env = testEnv(join(dir, 'data'), llm, { LOG_LEVEL: 'info' })
    const relay = await spawnRelay(env, dir, binary)
    expect(await (await fetch(`${relay.url}/health`)).json()).toEqual({ status: 'ok' })
    const port = new URL(relay.url).port
    const healthy = Bun.spawn([binary, 'healthcheck'], {
      env: { PORT: port },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    expect(await healthy.exited).toBe(0)
    const docs = await fetch(`${relay.url}/swagger/assets/swagger-ui-bundle.js`)
    expect(docs.status).toBe(200)
    expect((await docs.arrayBuffer()).byteLength).toBeGreaterThan(100_000)
    // The console's page, stylesheet and htmx: carried by the binary, nothing fetched from elsewhere.
    const consolePage = await (await fetch(`${relay.url}/console`)).text()
    for (const asset of consolePage.matchAll(/(?:href|src)="(\/console\/assets\/[^"]+)"/g)) {
      const served = await fetch(`${relay.url}${asset[1]}`)
      expect(served.status).toBe(200)
      expect((await served.arrayBuffer()).byteLength).toBeGreaterThan(1000)
    }
    expect([...consolePage.matchAll(/\/console\/assets\//g)].length).toBe(2)
    const response = await fetch(`${relay.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'from the binary', callback_url: `${sink.url}/hook` }),
    })
    expect(response.status).toBe(202)
    const [callback] = await sink.waitFor(1)
    expect(callback?.body.data.response).toBe('echo: from the binary')
    relay.process.kill('SIGTERM')
    expect(await relay.process.exited).toBe(0)
    const down = Bun.spawn([binary, 'healthcheck'], { env: { PORT: port }, stdout: 'pipe', stderr: 'pipe' })
    expect(await down.exited).toBe(1)
  } finally {
    llm.stop()
    sink.stop()
  }
})

test('the binary traces: with OTEL_EXPORTER_OTLP_ENDPOINT, a job’s spans reach the collector by SIGTERM', async () => {
  const llm = new FakeLlm()
  const sink = new CallbackSink()
  const collector = new OtlpReceiver()
  try {
    const env = testEnv(join(dir, 'traced'), llm, {
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    })
    const relay = await spawnRelay(env, dir, binary)
    const response = await fetch(`${relay.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'traced binary', callback_url: `${sink.url}/hook` }),
    })
    const { id } = (await response.json()) as { id: string }
    await sink.waitFor(1)
    relay.process.kill('SIGTERM')
    expect(await relay.process.exited).toBe(0)
    const spans = collector.spansOf(id)
    expect(spans.map((s) => s.name).sort()).toEqual(['POST /webhook', 'POST callback', 'chat fake/model'])
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(1)
  } finally {
    llm.stop()
    sink.stop()
    collector.stop()
  }
})

import { expect, test } from 'bun:test'
import { join, relative } from 'node:path'
import { Glob } from 'bun'

const root = join(import.meta.dir, '..')
const sources = async (): Promise<Map<string, string>> => {
  const files = new Map<string, string>()
  for await (const path of new Glob('src/**/*.ts').scan(root))
    files.set(path, await Bun.file(join(root, path)).text())
  return files
}
const importsOf = (text: string): string[] =>
  [...text.matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1] as string)

test('one config: only the config module reads the environment', async () => {
  const readers = [...(await sources())]
    .filter(([, text]) => /\bprocess\.env\b|\bBun\.env\b|import\.meta\.env/.test(text))
    .map(([path]) => path)
    .sort()
  expect(readers).toEqual(['src/config/environment.ts'])
})

test('one composition root: only main.ts (and backing.ts, its half that opens the database and limits) picks the store, LLM, delivery and limits adapters', async () => {
  const adapters = [
    'store/sqlite',
    'store/postgres',
    'llm/openai-client',
    'delivery/http-deliverer',
    'limits/redis',
    'limits/postgres',
    'telemetry/otlp-tracer',
  ]
  for (const [path, text] of await sources()) {
    if (path === 'src/main.ts' || path === 'src/backing.ts' || path.startsWith('src/store/')) continue
    for (const target of importsOf(text))
      expect({ path, imports: adapters.some((a) => target.includes(a)) }).toEqual({ path, imports: false })
  }
})

test('dependencies point inward: http and worker talk to ports, not to each other', async () => {
  const room = (path: string) => relative('src', path).split('/')[0] ?? ''
  const forbidden: Record<string, string[]> = {
    http: ['worker', 'llm', 'delivery', 'limits'],
    worker: ['http'],
    // Intake is what accepting a message means, whoever asks: HTTP calls it, not the other way.
    intake: ['http', 'worker', 'llm', 'delivery', 'limits', 'config'],
    store: ['http', 'worker', 'llm', 'delivery', 'limits'],
    llm: ['http', 'worker', 'store', 'delivery'],
    delivery: ['http', 'worker', 'llm'],
    config: ['http', 'worker', 'store', 'llm', 'delivery', 'limits'],
    contract: ['http', 'worker', 'store', 'llm', 'delivery', 'limits', 'config'],
    // What a client may ask of an answer: pure vocabulary that intake checks and the LLM sends.
    answer: ['http', 'worker', 'store', 'llm', 'delivery', 'limits', 'config'],
    // Spans of what the others do, told to it through the Tracer port: it calls none of them.
    telemetry: ['http', 'worker', 'llm', 'delivery', 'limits', 'config', 'intake'],
    // Clients are a service over the store: HTTP and the CLI call it, the deliverer asks it for secrets.
    clients: ['http', 'worker', 'llm', 'limits'],
  }
  for (const [path, text] of await sources()) {
    const banned = forbidden[room(path)] ?? []
    for (const target of importsOf(text).filter((t) => t.startsWith('.'))) {
      const into = room(relative(root, join(root, path, '..', target)))
      expect({ path, target, allowed: !banned.includes(into) }).toEqual({ path, target, allowed: true })
    }
  }
})

test('the store knows nothing of HTTP or of the limits: no web framework, no rate-limit store', async () => {
  for (const [path, text] of await sources()) {
    if (!path.startsWith('src/store/')) continue
    const web = importsOf(text).filter(
      (t) => t === 'elysia' || t.startsWith('elysia-') || t.startsWith('@elysiajs/'),
    )
    expect({ path, web }).toEqual({ path, web: [] })
  }
})

// The rooms converted to the injected Clock so far; the goal is all of src/ but clock.ts.
const ON_THE_CLOCK = [
  'src/limits/',
  'src/http/',
  'src/intake/',
  'src/store/',
  'src/job.ts',
  'src/worker/liveness.ts',
  'src/clients/',
  'src/data-encryption.ts',
  'src/delivery/origin-breaker.ts',
  'src/delivery/operator-events.ts',
  'src/worker/client-quotas.ts',
  'src/worker/owner-turns.ts',
]

test('time comes from the Clock: these rooms read no Date.now() and set no timer of their own', async () => {
  for (const [path, text] of await sources()) {
    if (!ON_THE_CLOCK.some((room) => path.startsWith(room))) continue
    const own = [...text.matchAll(/\bDate\.now\(\)|(?<![.\w])set(?:Timeout|Interval)\(/g)].map((m) => m[0])
    expect({ path, own }).toEqual({ path, own: [] })
  }
})

test('the OpenTelemetry SDK is imported by src/telemetry/otlp-tracer.ts alone, which main.ts loads only when tracing is on', async () => {
  const files = await sources()
  for (const [path, text] of files) {
    if (path === 'src/telemetry/otlp-tracer.ts') continue
    const sdk = importsOf(text).filter((t) => t.startsWith('@opentelemetry/'))
    expect({ path, sdk }).toEqual({ path, sdk: [] })
  }
  // A static import would load it (and the SDK) in every process.
  const main = files.get('src/main.ts') ?? ''
  expect(importsOf(main).some((t) => t.includes('otlp-tracer'))).toBe(false)
  expect(main).toContain("await import('./telemetry/otlp-tracer.ts')")
})

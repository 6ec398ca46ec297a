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

test('one composition root: only main.ts picks the store, LLM and delivery adapters', async () => {
  const adapters = [
    'store/sqlite',
    'store/postgres',
    'llm/openai-client',
    'delivery/http-deliverer',
    'limits/redis',
  ]
  for (const [path, text] of await sources()) {
    if (path === 'src/main.ts' || path.startsWith('src/store/')) continue
    for (const target of importsOf(text))
      expect({ path, imports: adapters.some((a) => target.includes(a)) }).toEqual({ path, imports: false })
  }
})

test('dependencies point inward: http and worker talk to ports, not to each other', async () => {
  const room = (path: string) => relative('src', path).split('/')[0] ?? ''
  const forbidden: Record<string, string[]> = {
    http: ['worker', 'llm', 'delivery', 'limits'],
    worker: ['http'],
    store: ['http', 'worker', 'llm', 'delivery'],
    llm: ['http', 'worker', 'store', 'delivery'],
    delivery: ['http', 'worker', 'llm'],
    config: ['http', 'worker', 'store', 'llm', 'delivery', 'limits'],
  }
  for (const [path, text] of await sources()) {
    const banned = forbidden[room(path)] ?? []
    for (const target of importsOf(text).filter((t) => t.startsWith('.'))) {
      const into = room(relative(root, join(root, path, '..', target)))
      expect({ path, target, allowed: !banned.includes(into) }).toEqual({ path, target, allowed: true })
    }
  }
})

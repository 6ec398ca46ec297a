import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { Glob } from 'bun'

const root = join(import.meta.dir, '..')

// `bun run build` minifies: a class name would turn into `Be` in every log line that names an
// error's type. Each error says its name itself, and the build keeps class names as well.
test('every Error subclass in src/ sets its own name', async () => {
  const unnamed: string[] = []
  for await (const path of new Glob('src/**/*.ts').scan(root)) {
    const text = await Bun.file(join(root, path)).text()
    for (const match of text.matchAll(/class (\w+) extends \w*Error\b/g)) {
      const name = match[1] as string
      if (!text.includes(`name = '${name}'`)) unnamed.push(`${path}: ${name}`)
    }
  }
  expect(unnamed).toEqual([])
})

test('the build keeps class and function names', async () => {
  const { scripts } = (await Bun.file(join(root, 'package.json')).json()) as { scripts: { build: string } }
  expect(scripts.build).toContain('--minify')
  expect(scripts.build).toContain('--keep-names')
})

import { describe, expect, test } from 'bun:test'
import { variables } from '../src/config/config.ts'
import { renderEnvExample, SECTIONS, withConfigTable } from '../src/config/reference.ts'

const root = new URL('../', import.meta.url)
const read = (name: string): Promise<string> => Bun.file(new URL(name, root)).text()

describe('configuration reference', () => {
  test('every variable stands in exactly one section', () => {
    const listed = SECTIONS.flatMap((s) => s.names)
    expect([...listed].sort()).toEqual(
      Object.values(variables)
        .map((v) => v.env as string)
        .sort(),
    )
  })

  test('.env.example is generated from the config (run `bun run docs:config`)', async () => {
    expect(await read('.env.example')).toBe(renderEnvExample())
  })

  test('the README configuration table is generated from the config (run `bun run docs:config`)', async () => {
    const readme = await read('README.md')
    expect(readme).toBe(withConfigTable(readme))
  })

  test('.env.example sets every variable to its default', async () => {
    const lines = (await read('.env.example')).split('\n')
    for (const v of Object.values(variables)) expect(lines).toContain(`${v.env}=${v.default}`)
  })
})

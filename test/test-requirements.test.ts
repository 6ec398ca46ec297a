import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { runCommand } from './support/process.ts'

// `bun test` on a machine without PostgreSQL and Redis: the suites that need them say so in one
// line each and the run passes; with CI=true they are required and the run fails, naming them.
const root = join(import.meta.dir, '..')
const nobodyHome = {
  PATH: process.env.PATH ?? '',
  TEST_POSTGRES_URL: 'postgres://postgres@127.0.0.1:1/test',
  TEST_REDIS_URL: 'redis://127.0.0.1:1',
}
const suites = ['test/fleet-limits.test.ts', 'test/fleet.test.ts']
const bunTest = (env: Record<string, string>) =>
  runCommand([process.execPath, 'test', ...suites], { cwd: root, env })

test('without PostgreSQL and Redis, their suites are skipped with one line each saying what to start', async () => {
  const run = await bunTest(nobodyHome)
  const output = run.out + run.err
  expect(run.code).toBe(0)
  const skipped = output.split('\n').filter((line) => line.startsWith('(skip)'))
  expect(skipped).toHaveLength(3)
  expect(skipped.filter((l) => l.includes('no Redis at redis://127.0.0.1:1'))).toHaveLength(1)
  expect(
    skipped.filter((l) => l.includes('no PostgreSQL at postgres://postgres@127.0.0.1:1/test')),
  ).toHaveLength(2)
  for (const line of skipped) expect(line).toContain('start one (see README "Tests")')
  expect(output).not.toContain('(fail)')
}, 60_000)

test('with CI=true they are required: the run fails with an error naming host and database', async () => {
  const run = await bunTest({ ...nobodyHome, CI: 'true' })
  const output = run.out + run.err
  expect(run.code).not.toBe(0)
  expect(output).toContain(
    'no PostgreSQL answers at postgres://postgres@127.0.0.1:1/test (host 127.0.0.1 port 1 database test)',
  )
  expect(output).toContain('no Redis answers at redis://127.0.0.1:1 (host 127.0.0.1 port 1 database 0)')
  expect(output).not.toContain('(skip)')
}, 60_000)

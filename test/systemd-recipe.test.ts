import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CallbackSink } from './support/callback-sink.ts'
import { FakeLlm } from './support/fake-llm.ts'
import { type RelayProcess, runCommand, spawnRelay } from './support/process.ts'
import { TEST_LLM_KEY } from './support/relay.ts'
import { eventually } from './support/signal.ts'

/*
 * The systemd recipe of README.md and docs/operations.md, taken from the docs themselves: the
 * env-file command, the unit's environment and working directory, then the backup commands
 * against the database that setup produces. systemd cannot run here (no systemd as PID 1), so
 * the relay is started the way the unit would start it: same environment, same directory.
 */
const root = join(import.meta.dir, '..')
const operations = readFileSync(join(root, 'docs', 'operations.md'), 'utf8')
const readme = readFileSync(join(root, 'README.md'), 'utf8')

const codeBlocks = (markdown: string, language: string): string[] =>
  [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)]
    .filter((m) => m[1] === language)
    .map((m) => m[2] as string)

function block(markdown: string, language: string, containing: string): string {
  const found = codeBlocks(markdown, language).filter((b) => b.includes(containing))
  if (found.length !== 1)
    throw new Error(`expected one ${language} block with ${containing}, found ${found.length}`)
  return found[0] as string
}

/** `Key=value` lines of a unit's [Service] section, in order. */
function directives(unit: string): [string, string][] {
  return unit
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^[A-Z]\w*=/.test(line))
    .map((line) => {
      const eq = line.indexOf('=')
      return [line.slice(0, eq), line.slice(eq + 1)]
    })
}

const unit = block(operations, 'ini', 'WantedBy=multi-user.target')
const shortUnit = block(readme, 'ini', 'abridged')
const setup = block(operations, 'sh', 'install -m 0600')
const backups = block(operations, 'sh', 'VACUUM INTO')
const migrations = block(operations, 'sh', 'schema_migrations')

/** The one value of a directive. */
const only = (name: string): string => {
  const values = directives(unit).filter(([key]) => key === name)
  if (values.length !== 1) throw new Error(`the unit has ${values.length} ${name}= lines`)
  return (values[0] as [string, string])[1]
}

test('the README’s short unit is the full unit, abridged: every line of it is in docs/operations.md', () => {
  const full = directives(unit).map(([k, v]) => `${k}=${v}`)
  for (const [key, value] of directives(shortUnit)) expect(full).toContain(`${key}=${value}`)
  for (const needed of ['WorkingDirectory', 'StateDirectory', 'EnvironmentFile', 'Environment'])
    expect(directives(shortUnit).map(([key]) => key)).toContain(needed)
})

test('the state directory, the working directory and DATABASE_URL name one place', () => {
  expect(only('StateDirectory')).toBe('llm-relay')
  expect(only('WorkingDirectory')).toBe('/var/lib/llm-relay')
  expect(only('Environment')).toBe('DATABASE_URL=sqlite:/var/lib/llm-relay/llm-relay.db')
  expect(setup).toContain('DATABASE_URL=sqlite:/var/lib/llm-relay/llm-relay.db')
  for (const command of [...backups.split('\n'), ...migrations.split('\n')].filter((l) =>
    l.startsWith('sqlite3'),
  ))
    expect(command).toMatch(/^sqlite3 (\/var\/lib\/llm-relay\/llm-relay\.db|\/backups\/)/)
})

const systemdAnalyze = Bun.which('systemd-analyze')
test.skipIf(systemdAnalyze === null)('systemd-analyze verify accepts the unit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-relay-unit-'))
  try {
    // verify wants ExecStart's binary to exist; any executable stands in for the built one.
    const path = join(dir, 'llm-relay.service')
    writeFileSync(path, unit.replace('/usr/local/bin/llm-relay', process.execPath))
    const run = await runCommand([systemdAnalyze as string, 'verify', path])
    expect(`${run.err}${run.out}`.trim()).toBe('')
    expect(run.code).toBe(0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

describe.skipIf(Bun.which('sqlite3') === null && process.env.CI !== 'true')(
  'the documented setup, then the documented backup (needs the sqlite3 command)',
  () => {
    let fakeRoot: string
    let llm: FakeLlm
    let sink: CallbackSink
    let relay: RelayProcess | undefined
    /** A documented command, run against the temporary root instead of /. */
    const local = (command: string): string =>
      command
        .replace(/^sudo /, '')
        .replace(/\| sudo /, '| ')
        .replaceAll('/var/lib/llm-relay', `${fakeRoot}/var/lib/llm-relay`)
        .replaceAll('/etc/llm-relay', `${fakeRoot}/etc/llm-relay`)
        .replaceAll('/backups/', `${fakeRoot}/backups/`)
    const sh = (command: string) =>
      runCommand(['sh', '-c', local(command)], { cwd: root, env: { PATH: process.env.PATH ?? '' } })

    beforeAll(() => {
      fakeRoot = mkdtempSync(join(tmpdir(), 'llm-relay-systemd-'))
      llm = new FakeLlm()
      sink = new CallbackSink()
    })
    afterAll(async () => {
      relay?.process.kill('SIGTERM')
      await relay?.process.exited
      llm.stop()
      sink.stop()
      rmSync(fakeRoot, { recursive: true, force: true })
    })

    test('jobs of a relay started as the unit starts it are in the backup', async () => {
      for (const line of setup.split('\n').filter((l) => l.includes('/etc/llm-relay'))) {
        const run = await sh(line)
        expect({ line, code: run.code, err: run.err }).toEqual({ line, code: 0, err: '' })
      }
      // systemd: Environment= first, then EnvironmentFile= (written above, under the temporary
      // root) overrides it; StateDirectory= exists before the start.
      const env: Record<string, string> = {}
      for (const [, value] of directives(unit).filter(([k]) => k === 'Environment')) {
        const eq = value.indexOf('=')
        env[value.slice(0, eq)] = local(value.slice(eq + 1))
      }
      for (const line of readFileSync(local(only('EnvironmentFile')), 'utf8').split('\n')) {
        const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
        if (match) env[match[1] as string] = (match[2] as string).trim()
      }
      const state = local(`/var/lib/${only('StateDirectory')}`)
      mkdirSync(state, { recursive: true, mode: 0o700 })
      relay = await spawnRelay(
        {
          ...env,
          HOST: '127.0.0.1',
          PORT: '0',
          LLM_BASE_URL: llm.url,
          LLM_API_KEY: TEST_LLM_KEY,
          LLM_MODEL: 'fake/model',
          ALLOW_PRIVATE_CALLBACK_URLS: 'true',
          LOG_LEVEL: 'info',
        },
        local(only('WorkingDirectory')),
      )
      const accepted = await fetch(`${relay.url}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'back me up', callback_url: `${sink.url}/hook` }),
      })
      expect(accepted.status).toBe(202)
      const { id } = (await accepted.json()) as { id: string }
      await eventually(async () => {
        const job = (await (await fetch(`${relay?.url}/jobs/${id}`)).json()) as { status: string }
        return job.status === 'delivered'
      }, 'the job to be delivered')

      expect(existsSync(join(state, 'llm-relay.db'))).toBe(true)
      expect(existsSync(join(state, 'data'))).toBe(false)

      mkdirSync(join(fakeRoot, 'backups'))
      const commands = backups.split('\n').filter((l) => l.startsWith('sqlite3'))
      expect(commands).toHaveLength(3)
      for (const command of commands) {
        const run = await sh(command)
        expect({ command, code: run.code, err: run.err }).toEqual({ command, code: 0, err: '' })
        if (command.includes('integrity_check')) expect(run.out.trim()).toBe('ok')
      }
      const copy = new Database(join(fakeRoot, 'backups', 'relay.db'), { readonly: true })
      try {
        expect(copy.query('SELECT status, response FROM jobs WHERE id = ?').get(id)).toEqual({
          status: 'delivered',
          response: 'echo: back me up',
        })
      } finally {
        copy.close()
      }
      const migrated = await sh(migrations.split('\n').find((l) => l.startsWith('sqlite3')) ?? '')
      expect(migrated.code).toBe(0)
      expect(migrated.out).toMatch(/^1\|/m)
    }, 60_000)
  },
)

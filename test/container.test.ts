import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { runCli } from '../src/cli.ts'
import { parseConfig, variables } from '../src/config/config.ts'
import { parseDuration } from '../src/config/duration.ts'
import { FakeLlm } from './support/fake-llm.ts'
import { runCommand, spawnRelay } from './support/process.ts'
import { startTestRelay, testEnv } from './support/relay.ts'
import { Signal } from './support/signal.ts'

// No Docker engine runs here, so the image is checked by what it is made of: the Dockerfile
// passes the lint script, and every name it and compose.yaml use (the build script, the
// binary path, the CLI commands, files, settings) exists and means what they assume.

const root = join(import.meta.dir, '..')
const read = (path: string): string => readFileSync(join(root, path), 'utf8')
const packageJson = JSON.parse(read('package.json')) as {
  packageManager: string
  scripts: Record<string, string>
}
const bunVersion = packageJson.packageManager.replace(/^bun@/, '')

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'llm-relay-container-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Instruction {
  op: string
  args: string
  stage: number
}

/** The Dockerfile's instructions, continuations joined and comments dropped, with their stage. */
function dockerfile(text = read('Dockerfile')): Instruction[] {
  const out: Instruction[] = []
  let stage = -1
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\[ \t]*\n/g, ' ')
  for (const line of joined.split('\n')) {
    const trimmed = line.trim().replace(/\s+/g, ' ')
    if (trimmed === '') continue
    const [op = '', ...rest] = trimmed.split(' ')
    if (op.toUpperCase() === 'FROM') stage++
    out.push({ op: op.toUpperCase(), args: rest.join(' '), stage })
  }
  return out
}

const instructions = dockerfile()
const finalStage = Math.max(...instructions.map((i) => i.stage))
const inStage = (stage: number, op: string) => instructions.filter((i) => i.stage === stage && i.op === op)
const only = <T>(items: T[], what: string): T => {
  if (items.length !== 1) throw new Error(`expected one ${what}, found ${items.length}`)
  return items[0] as T
}
/** The JSON array at the end of an exec-form instruction (CMD, ENTRYPOINT, HEALTHCHECK … CMD). */
const execForm = (args: string): string[] => JSON.parse(/(\[.*\])$/.exec(args)?.[1] ?? 'null') as string[]
/** KEY=value pairs of ENV instructions. */
const envOf = (stage: number): Record<string, string> =>
  Object.fromEntries(
    inStage(stage, 'ENV').flatMap((i) =>
      i.args.split(' ').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    ),
  )

async function checkDockerfile(path: string) {
  const { code, out, err } = await runCommand(['bash', join(root, '.ci', 'check-dockerfile.sh'), path])
  return { code, out: out + err }
}

describe('Dockerfile', () => {
  test('passes .ci/check-dockerfile.sh', async () => {
    const result = await checkDockerfile(join(root, 'Dockerfile'))
    expect(result.out).toContain('every check passed')
    expect(result.code).toBe(0)
  })

  const original = read('Dockerfile')
  const healthcheck = /HEALTHCHECK[^\n]*\\\n[^\n]*\n/
  const mutations: [string, (text: string) => string, string][] = [
    [
      'a base image on latest',
      (t) => t.replace('FROM oven/bun:1.4.5', 'FROM oven/bun:latest'),
      'uses latest',
    ],
    ['an untagged base image', (t) => t.replace('FROM oven/bun:1.4.5', 'FROM oven/bun'), 'has no tag'],
    ['no USER', (t) => t.replace(/^USER .*$/m, ''), 'no USER'],
    ['USER root', (t) => t.replace(/^USER .*$/m, 'USER root'), 'runs as root'],
    ['USER 0', (t) => t.replace(/^USER .*$/m, 'USER 0:0'), 'runs as root'],
    ['no HEALTHCHECK', (t) => t.replace(healthcheck, ''), 'no HEALTHCHECK'],
    [
      'a shell-form HEALTHCHECK',
      (t) => t.replace(healthcheck, 'HEALTHCHECK CMD curl -f http://localhost:3000/health\n'),
      'exec form',
    ],
    ['a shell-form CMD', (t) => t.replace('CMD ["serve"]', 'CMD llm-relay serve'), 'DL3025'],
    ['no EXPOSE 3000', (t) => t.replace(/^EXPOSE .*$/m, 'EXPOSE 8080'), 'no EXPOSE 3000'],
    ['no VOLUME /data', (t) => t.replace(/^VOLUME .*$/m, ''), 'no VOLUME /data'],
    [
      'a secret baked into ENV',
      (t) => t.replace('ENV DATABASE_URL', 'ENV LLM_API_KEY=sk-or-x DATABASE_URL'),
      'LLM_API_KEY',
    ],
    ['ADD instead of COPY', (t) => t.replace('COPY src ./src', 'ADD src ./src'), 'DL3020'],
    ['an unlocked install', (t) => t.replace(' --frozen-lockfile', ''), 'frozen-lockfile'],
    [
      'a single stage',
      () =>
        'FROM oven/bun:1.4.5\nUSER bun\nEXPOSE 3000\nVOLUME /data\nHEALTHCHECK CMD ["bun", "--version"]\n',
      'not multi-stage',
    ],
  ]
  for (const [name, mutate, complaint] of mutations) {
    test(`the check refuses ${name}`, async () => {
      const variant = mutate(original)
      expect(variant).not.toBe(original)
      const path = join(dir, `Dockerfile.${name.replace(/\W+/g, '-')}`)
      writeFileSync(path, variant)
      const result = await checkDockerfile(path)
      expect(result.code).toBe(1)
      expect(result.out).toMatch(new RegExp(`FAIL .*${complaint}`))
    })
  }

  test('builds on the Bun the project pins, with the locked dependencies', () => {
    const from = only(inStage(0, 'FROM'), 'build FROM')
    expect(from.args).toStartWith(`oven/bun:${bunVersion} `)
    expect(inStage(0, 'RUN').some((i) => i.args.includes('bun install --frozen-lockfile'))).toBe(true)
  })

  test('copies into the build only files that exist and that .dockerignore lets through', () => {
    const sources = inStage(0, 'COPY').flatMap((i) => i.args.split(' ').slice(0, -1))
    expect(sources).toContain('bun.lock')
    for (const source of sources) {
      expect(existsSync(join(root, source))).toBe(true)
      expect(dockerIgnores(source)).toBe(false)
    }
  })

  test('the runtime stage copies the binary that `bun run build` makes, and runs it', () => {
    expect(inStage(0, 'RUN').some((i) => i.args.startsWith('bun run build'))).toBe(true)
    const outfile = /--outfile (\S+)/.exec(packageJson.scripts.build ?? '')?.[1]
    expect(outfile).toBeDefined()
    const workdir = only(inStage(0, 'WORKDIR'), 'build WORKDIR').args
    const built = posix.join(workdir, outfile as string)
    const copy = only(
      inStage(finalStage, 'COPY').filter((i) => i.args.includes(built)),
      `COPY of ${built}`,
    )
    expect(copy.args).toMatch(/^--from=build /)
    const binary = copy.args.split(' ').at(-1) as string
    const entrypoint = execForm(only(inStage(finalStage, 'ENTRYPOINT'), 'ENTRYPOINT').args)
    expect(entrypoint).toEqual([binary])
    expect(execForm(only(inStage(finalStage, 'HEALTHCHECK'), 'HEALTHCHECK').args)[0]).toBe(binary)
  })

  test('CMD is a command the CLI serves', () => {
    const cmd = execForm(only(inStage(finalStage, 'CMD'), 'CMD').args)
    const outcome = runCli(cmd, { out: () => {}, err: () => {}, env: {} })
    expect(typeof outcome).toBe('object')
  })

  test('the image settings are a valid configuration whose database lives in VOLUME /data', () => {
    const env = envOf(finalStage)
    const config = parseConfig(env)
    expect(config.port).toBe(3000)
    expect(inStage(finalStage, 'EXPOSE').map((i) => i.args)).toContain(String(config.port))
    expect(config.database).toEqual({ kind: 'sqlite', path: '/data/llm-relay.db' })
    // A .env copied from .env.example names the relative default; from WORKDIR it is the same file.
    const workdir = only(inStage(finalStage, 'WORKDIR'), 'runtime WORKDIR').args
    const relative = variables.database.default.replace(/^sqlite:/, '')
    expect(posix.resolve(workdir, relative)).toBe('/data/llm-relay.db')
  })
})

/** .dockerignore as Docker reads it for top-level names: the last matching line wins. */
function dockerIgnores(path: string): boolean {
  const top = path.split('/')[0] as string
  let ignored = false
  for (const raw of read('.dockerignore').split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const negated = line.startsWith('!')
    const pattern = negated ? line.slice(1) : line
    if (pattern === '*' || pattern === top || pattern === path) ignored = !negated
  }
  return ignored
}

describe('.dockerignore', () => {
  test('keeps secrets, databases and local builds out of the build context', () => {
    for (const path of ['.env', 'data', 'relay.db', 'node_modules', 'dist', '.git', 'test', 'bench'])
      expect(dockerIgnores(path)).toBe(true)
    for (const path of ['package.json', 'bun.lock', 'bunfig.toml', 'src', 'src/main.ts'])
      expect(dockerIgnores(path)).toBe(false)
  })
})

describe('`llm-relay healthcheck`, the HEALTHCHECK of an image without curl', () => {
  const MAIN = join(root, 'src', 'main.ts')
  const healthcheck = async (port: number) => {
    // The container's own settings: HOST=0.0.0.0 means "check on loopback".
    const child = Bun.spawn([process.execPath, MAIN, 'healthcheck'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOST: '0.0.0.0', PORT: String(port) },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    return child.exited
  }

  test('exits 0 while the relay answers /health, and 1 once it is gone', async () => {
    const llm = new FakeLlm()
    try {
      const relay = await spawnRelay(testEnv(join(dir, 'healthcheck'), llm), dir)
      const port = Number(new URL(relay.url).port)
      expect(await healthcheck(port)).toBe(0)
      relay.process.kill('SIGTERM')
      await relay.process.exited
      expect(await healthcheck(port)).toBe(1)
    } finally {
      llm.stop()
    }
  }, 20_000)
})

interface ComposeService {
  image?: string
  build?: string
  profiles?: string[]
  ports?: string[]
  volumes?: string[]
  env_file?: { path: string; required: boolean }[]
  environment?: Record<string, string>
  restart?: string
  healthcheck?: { test: string[] }
  stop_grace_period?: string
  depends_on?: string[] | Record<string, { condition: string }>
  command?: string[]
}

describe('compose.yaml', () => {
  const compose = Bun.YAML.parse(read('compose.yaml')) as {
    services: Record<string, ComposeService>
    volumes: Record<string, unknown>
  }
  const services = compose.services
  const service = (name: string): ComposeService => {
    const found = services[name]
    if (!found) throw new Error(`no service ${name}`)
    return found
  }
  const relays = Object.entries(services).filter(([, s]) => s.build === '.')
  const inProfile = (profile: string) =>
    Object.keys(services)
      .filter((name) => service(name).profiles?.includes(profile))
      .sort()
  const binaryHealthcheck = ['CMD', ...execForm(only(inStage(finalStage, 'HEALTHCHECK'), 'HEALTHCHECK').args)]

  test('relay: built here, on port 3000, with its volume and an optional .env, restarted and health-checked', () => {
    const relay = service('relay')
    expect(relay.profiles).toBeUndefined()
    expect(relay.build).toBe('.')
    expect(relay.ports).toContain('3000:3000')
    expect(relay.volumes).toContain('relay-data:/data')
    expect(relay.env_file).toEqual([{ path: '.env', required: false }])
    expect(relay.restart).toBe('unless-stopped')
    expect(relay.environment?.DATABASE_URL).toBe('sqlite:/data/llm-relay.db')
  })

  test('every relay is health-checked by the binary and given time to drain', () => {
    expect(relays.length).toBeGreaterThanOrEqual(4)
    const drain = parseDuration(variables.shutdownTimeout.default) as number
    for (const [, relay] of relays) {
      expect(relay.healthcheck?.test).toEqual(binaryHealthcheck)
      expect(parseDuration(relay.stop_grace_period ?? '10s')).toBeGreaterThan(drain)
    }
  })

  test("every relay's environment names real settings with valid values, listening where its ports point", () => {
    const known = new Set(Object.values(variables).flatMap((v) => [v.env as string, ...(v.aliases ?? [])]))
    for (const [name, relay] of relays) {
      const env = relay.environment ?? {}
      for (const key of Object.keys(env))
        expect(`${name}: ${key}`).toBe(`${name}: ${known.has(key) ? key : '?'}`)
      const config = parseConfig(env)
      expect(config.host).toBe('0.0.0.0')
      for (const port of relay.ports ?? []) expect(port).toEndWith(`:${config.port}`)
    }
  })

  test('every image is pinned by tag, and the receiver runs the Bun the project pins', () => {
    for (const [name, s] of Object.entries(services)) {
      const image = s.image ?? ''
      expect(`${name}: ${image}`).toMatch(/:[\w.-]+$/)
      expect(image).not.toEndWith(':latest')
    }
    expect(service('callback-receiver').image).toBe(`oven/bun:${bunVersion}`)
  })

  test('profile demo: the callback receiver, and a relay that may call it and nothing else private', () => {
    expect(inProfile('demo')).toEqual(['callback-receiver', 'relay-demo'])
    const receiver = service('callback-receiver')
    const [script, mountedAt] = (receiver.volumes?.[0] ?? '').split(':')
    expect(existsSync(join(root, script as string))).toBe(true)
    expect(receiver.command?.at(-1)).toBe(mountedAt)
    const env = service('relay-demo').environment ?? {}
    expect(env.ALLOW_PRIVATE_CALLBACK_URLS).toBe('true')
    expect(env.CALLBACK_ALLOWED_HOSTS).toBe('callback-receiver')
    expect(service('relay-demo').depends_on).toContain('callback-receiver')
  })

  test('profile postgres: PostgreSQL 16, Redis 7 and two relays behind nginx', () => {
    expect(inProfile('postgres')).toEqual(['lb', 'postgres', 'redis', 'relay-a', 'relay-b'])
    expect(service('postgres').image).toBe('postgres:16')
    expect(service('redis').image).toBe('redis:7')
    const pg = service('postgres').environment ?? {}
    for (const name of ['relay-a', 'relay-b']) {
      const env = service(name).environment ?? {}
      expect(env.DATABASE_URL).toBe(
        `postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`,
      )
      expect(env.REDIS_URL).toBe('redis://redis:6379')
      expect(env.TRUST_PROXY).toBe('true')
    }
    const lb = service('lb')
    const conf = (lb.volumes ?? []).find((v) => v.includes('nginx'))?.split(':')[0] as string
    const upstreams = [...read(conf).matchAll(/^\s*server\s+([\w.-]+:\d+)/gm)].map((m) => m[1])
    expect(upstreams).toEqual(['relay-a:3000', 'relay-b:3000'])
    expect(Object.keys(lb.depends_on ?? {}).sort()).toEqual(['relay-a', 'relay-b'])
  })

  test('named volumes are declared, mounted files exist, dependencies exist, host ports do not clash', () => {
    const hostPorts: string[] = []
    for (const [name, s] of Object.entries(services)) {
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0] as string
        if (source.startsWith('.'))
          expect(`${name}: ${source} ${existsSync(join(root, source))}`).toEndWith('true')
        else expect(Object.keys(compose.volumes)).toContain(source)
      }
      const needs = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {})
      for (const needed of needs) expect(Object.keys(services)).toContain(needed)
      hostPorts.push(...(s.ports ?? []).map((p) => p.split(':')[0] as string))
    }
    expect(new Set(hostPorts).size).toBe(hostPorts.length)
  })
})

describe('the demo profile’s callback receiver (docs/examples/callback-receiver.ts)', () => {
  const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
  let output = ''
  const changed = new Signal()
  let receiver: ReturnType<typeof Bun.spawn> | undefined
  let url = ''

  beforeAll(async () => {
    receiver = Bun.spawn([process.execPath, join(root, 'docs', 'examples', 'callback-receiver.ts')], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', PORT: '0', CALLBACK_SECRET: SECRET },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    void (async () => {
      const decoder = new TextDecoder()
      for await (const chunk of receiver.stdout as ReadableStream<Uint8Array>) {
        output += decoder.decode(chunk)
        changed.changed()
      }
    })()
    const port = await changed.until(
      () => /listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(output)?.[1],
      'the receiver',
    )
    url = `http://127.0.0.1:${port}/hook`
  })
  afterAll(async () => {
    receiver?.kill('SIGTERM')
    await receiver?.exited
  })

  test('prints a relay callback with its webhook-id, verified signature and body', async () => {
    const relay = await startTestRelay({ CALLBACK_SECRET: SECRET })
    try {
      const response = await relay.post({ message: 'to the receiver', callback_url: url })
      const { id } = (await response.json()) as { id: string }
      await changed.until(() => output.includes('"response": "echo: to the receiver"'), 'the callback')
      expect(output).toContain('── POST /hook')
      expect(output).toContain(`webhook-id: ${id}`)
      expect(output).toContain('signature: verified')
      expect((await relay.waitForStatus(id, 'delivered')).attempts.delivery).toBe(1)
    } finally {
      await relay.close()
    }
  })

  test('answers 401 to a callback whose signature does not verify, and says so', async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'forged-1',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      },
      body: '{"type":"job.completed"}',
    })
    expect(response.status).toBe(401)
    await changed.until(() => output.includes('INVALID, no signature matches'), 'the refusal')
  })
})

import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { freePort } from './free-port.ts'

/** Debian keeps PostgreSQL's server binaries off PATH, under /usr/lib/postgresql/<version>/bin. */
const BIN_DIRS = existsSync('/usr/lib/postgresql')
  ? readdirSync('/usr/lib/postgresql')
      .sort((a, b) => Number(b) - Number(a))
      .map((version) => `/usr/lib/postgresql/${version}/bin`)
  : []

/** Where `name` (initdb, pg_ctl…) is: a PostgreSQL bin folder first, then PATH. */
export function serverBinary(name: string): string | undefined {
  for (const dir of BIN_DIRS) if (existsSync(join(dir, name))) return join(dir, name)
  return Bun.which(name) ?? undefined
}

/** PostgreSQL refuses to run as root: as root, its commands run as `postgres` through runuser. */
export const runAsServerUser: string[] | undefined =
  userInfo().uid !== 0
    ? []
    : (() => {
        const runuser =
          Bun.which('runuser') ?? ['/usr/sbin/runuser', '/sbin/runuser'].find((p) => existsSync(p))
        return runuser === undefined ? undefined : [runuser, '-u', 'postgres', '--']
      })()

function binary(name: string): string {
  const found = serverBinary(name)
  if (found) return found
  throw new Error(
    `${name} not found in ${BIN_DIRS.join(', ')} or on PATH: install PostgreSQL's server binaries`,
  )
}

function asServerUser(cmd: string[]): string[] {
  if (runAsServerUser === undefined) throw new Error('running as root, and runuser was not found')
  return [...runAsServerUser, ...cmd]
}

async function run(cmd: string[]): Promise<void> {
  const child = Bun.spawn(asServerUser(cmd), { stdout: 'pipe', stderr: 'pipe' })
  const [code, out, err] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ])
  if (code !== 0) throw new Error(`${cmd.join(' ')} exited with ${code}:\n${out}${err}`)
}

/**
 * A PostgreSQL cluster of the test's own, in a temp directory, on its own port: the test may
 * stop and start it without touching the shared one on 5432. Trust authentication on loopback only.
 */
export class PostgresServer {
  private constructor(
    private readonly dir: string,
    readonly port: number,
    private readonly settings: Record<string, string>,
  ) {}

  /** `settings` are server settings (`-c name=value`), e.g. a benchmark's `shared_preload_libraries`. */
  static async start(settings: Record<string, string> = {}): Promise<PostgresServer> {
    const dir = mkdtempSync(join(tmpdir(), 'llm-relay-pg-'))
    if (userInfo().uid === 0) await Bun.$`chown postgres ${dir}`.quiet()
    const server = new PostgresServer(dir, freePort(), settings)
    await run([binary('initdb'), '-D', server.data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
    await server.restart()
    return server
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }

  private get data(): string {
    return join(this.dir, 'data')
  }

  /** Starts it (again) on the same port and data; resolves once it accepts connections. */
  async restart(): Promise<void> {
    const extra = Object.entries(this.settings).map(([name, value]) => ` -c ${name}=${value}`)
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off${extra.join('')}`
    await run([binary('pg_ctl'), '-D', this.data, '-o', options, '-l', join(this.dir, 'log'), '-w', 'start'])
  }

  /** Stops it at once (`immediate`: connections drop, as when the server dies). */
  async stop(): Promise<void> {
    await run([binary('pg_ctl'), '-D', this.data, '-m', 'immediate', '-w', 'stop'])
  }

  async remove(): Promise<void> {
    await this.stop().catch(() => {})
    rmSync(this.dir, { recursive: true, force: true })
  }
}

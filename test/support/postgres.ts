import { describe, test } from 'bun:test'
import { RedisClient, SQL } from 'bun'
import { runAsServerUser, serverBinary } from './postgres-server.ts'

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * What some suites need beyond Bun: the shared PostgreSQL and Redis, or the server binaries the
 * fault tests start instances of their own from. Probed once when this module loads: without it
 * those suites are skipped with one line saying what to do, unless CI=true, where they are required.
 */
export interface Backing {
  name: string
  available: boolean
  /** What is missing, for the skip line: `no PostgreSQL at postgres://…`. */
  missing: string
  /** What to do about it. */
  remedy: string
  /** The same, for the loud CI=true failure: names host and database. */
  failure: string
}

const required = (process.env.CI ?? '').toLowerCase() === 'true' || process.env.CI === '1'

function masked(url: string): string {
  const parsed = URL.parse(url)
  if (parsed?.password) parsed.password = '***'
  return parsed?.toString() ?? url
}

function describeError(error: unknown): string {
  const e = error as { code?: string; message?: string }
  return [e?.code, e?.message].filter(Boolean).join(': ') || String(error)
}

/** Host, port and database (or Redis db number) of a URL. */
function target(url: string, defaultPort: string, defaultDatabase: string): string {
  const parsed = URL.parse(url)
  if (!parsed) return url
  const database = parsed.pathname.replace(/^\//, '') || defaultDatabase
  return `host ${parsed.hostname} port ${parsed.port || defaultPort} database ${database}`
}

async function server(
  name: 'PostgreSQL' | 'Redis',
  url: string,
  envName: string,
  ask: () => Promise<unknown>,
): Promise<Backing> {
  const where = masked(url)
  let problem = ''
  try {
    await ask()
  } catch (error) {
    problem = describeError(error)
  }
  const [port, database] = name === 'Redis' ? ['6379', '0'] : ['5432', '(default)']
  return {
    name,
    available: problem === '',
    missing: `no ${name} at ${where} (${problem})`,
    remedy: `start one (see README "Tests") or set ${envName}`,
    failure: `no ${name} answers at ${where} (${target(url, port, database)}): ${problem}. Start it (bash .ci/run does) or point ${envName} at one.`,
  }
}

export const postgres: Backing = await server('PostgreSQL', POSTGRES_URL, 'TEST_POSTGRES_URL', async () => {
  const sql = new SQL(POSTGRES_URL, { max: 1, connectionTimeout: 3 })
  try {
    await sql`SELECT 1`
  } finally {
    await sql.close()
  }
})

export const redis: Backing = await server('Redis', REDIS_URL, 'TEST_REDIS_URL', async () => {
  const client = new RedisClient(REDIS_URL, { connectionTimeout: 3000, autoReconnect: false })
  try {
    await client.send('PING', [])
  } finally {
    client.close()
  }
})

function binaries(name: string, found: boolean, what: string, where: string): Backing {
  return {
    name,
    available: found,
    missing: `no ${what} ${where}`,
    remedy: 'install it (see README "Tests")',
    failure: `no ${what} ${where}: install it (bash .ci/run does).`,
  }
}

/** initdb and pg_ctl, for the tests that run a PostgreSQL of their own (test/support/postgres-server.ts). */
export const postgresServerBinaries: Backing = binaries(
  'PostgreSQL server binaries',
  serverBinary('initdb') !== undefined &&
    serverBinary('pg_ctl') !== undefined &&
    runAsServerUser !== undefined,
  'initdb and pg_ctl (and runuser, as root)',
  'in /usr/lib/postgresql/*/bin or on PATH',
)

/** redis-server, for the tests that run a Redis of their own (test/support/redis-server.ts). */
export const redisServerBinary: Backing = binaries(
  'redis-server',
  Bun.which('redis-server') !== null,
  'redis-server',
  'on PATH',
)

export const postgresAvailable = postgres.available
export const redisAvailable = redis.available

/**
 * The one line a suite leaves when what it needs is missing: skipped, saying what to do, or
 * (CI=true) a failing test saying what is missing (a server's host and database).
 */
export function reportUnavailable(backing: Backing, suite: string): void {
  if (required) {
    test(`${suite}: ${backing.name} is required with CI=true`, () => {
      throw new Error(backing.failure)
    })
    return
  }
  test.skip(`${suite}: skipped — ${backing.missing}; ${backing.remedy}`, () => {})
}

/** `describe(suite, fn)` when `backing` answers; otherwise the one line of reportUnavailable. */
export function describeWith(backing: Backing, suite: string, fn: () => void): void {
  if (backing.available) describe(suite, fn)
  else reportUnavailable(backing, suite)
}

/**
 * `describe` when `backing` answers, else nothing. Given `suite`, a missing backing leaves the
 * one line of reportUnavailable for it here; without, the file has reported it once already.
 */
export function describeIf(backing: Backing, suite?: string): (suite: string, fn: () => void) => void {
  if (!backing.available && suite !== undefined) reportUnavailable(backing, suite)
  return backing.available ? (suite, fn) => describe(suite, fn) : () => {}
}

/** `test` when `backing` answers, else nothing; `suite` as for describeIf. */
export function testIf(
  backing: Backing,
  suite?: string,
): (name: string, fn: () => Promise<void> | void, timeoutMs?: number) => void {
  if (!backing.available && suite !== undefined) reportUnavailable(backing, suite)
  return backing.available ? (name, fn, timeoutMs) => test(name, fn, timeoutMs) : () => {}
}

export const describePostgres = (suite: string, fn: () => void): void => describeWith(postgres, suite, fn)
export const describeRedis = (suite: string, fn: () => void): void => describeWith(redis, suite, fn)

/** A fresh schema name for one test file's run; `dropSchema` removes it afterwards. */
export function freshSchema(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
}

export async function dropSchema(schema: string): Promise<void> {
  await dropSchemas([schema])
}

/**
 * Drops the schemas one after another on one connection: a file that made a schema per test
 * (the transition table's walk makes about 150) would otherwise open as many connections at
 * once and meet the server's max_connections (100).
 */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return
  const sql = new SQL(POSTGRES_URL, { max: 1 })
  try {
    for (const schema of schemas) await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  } finally {
    await sql.close()
  }
}

export const databaseUrl = (schema: string): string => `${POSTGRES_URL}?schema=${schema}`

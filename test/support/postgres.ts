import { describe, test } from 'bun:test'
import { RedisClient, SQL } from 'bun'

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * A shared server some suites need. Probed once when this module loads: without it those suites
 * are skipped with one line saying what to start, unless CI=true, where they are required.
 */
export interface Backing {
  name: 'PostgreSQL' | 'Redis'
  /** Where it was looked for, password masked. */
  where: string
  available: boolean
  /** Why it did not answer. */
  problem: string | undefined
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

async function probe(name: Backing['name'], url: string, ask: () => Promise<unknown>): Promise<Backing> {
  try {
    await ask()
    return { name, where: masked(url), available: true, problem: undefined }
  } catch (error) {
    return { name, where: masked(url), available: false, problem: describeError(error) }
  }
}

export const postgres: Backing = await probe('PostgreSQL', POSTGRES_URL, async () => {
  const sql = new SQL(POSTGRES_URL, { max: 1, connectionTimeout: 3 })
  try {
    await sql`SELECT 1`
  } finally {
    await sql.close()
  }
})

export const redis: Backing = await probe('Redis', REDIS_URL, async () => {
  const client = new RedisClient(REDIS_URL, { connectionTimeout: 3000, autoReconnect: false })
  try {
    await client.send('PING', [])
  } finally {
    client.close()
  }
})

export const postgresAvailable = postgres.available
export const redisAvailable = redis.available

/** Host, port and database (or Redis db number) of a URL, for the message of a missing backing. */
function target(backing: Backing): string {
  const url = URL.parse(backing.where)
  if (!url) return backing.where
  const database = url.pathname.replace(/^\//, '') || (backing.name === 'Redis' ? '0' : '(default)')
  return `host ${url.hostname} port ${url.port || (backing.name === 'Redis' ? '6379' : '5432')} database ${database}`
}

function envName(backing: Backing): string {
  return backing.name === 'Redis' ? 'TEST_REDIS_URL' : 'TEST_POSTGRES_URL'
}

/**
 * The one line a suite leaves when its backing is missing: skipped, saying what to start, or
 * (CI=true) a failing test naming host and database.
 */
export function reportUnavailable(backing: Backing, suite: string): void {
  if (required) {
    test(`${suite}: ${backing.name} is required with CI=true`, () => {
      throw new Error(
        `no ${backing.name} answers at ${backing.where} (${target(backing)}): ${backing.problem}. ` +
          `Start it (bash .ci/run does) or point ${envName(backing)} at one.`,
      )
    })
    return
  }
  test.skip(`${suite}: skipped — no ${backing.name} at ${backing.where} (${backing.problem}); start one (see README "Tests") or set ${envName(backing)}`, () => {})
}

/** `describe(suite, fn)` when `backing` answers; otherwise the one line of reportUnavailable. */
export function describeWith(backing: Backing, suite: string, fn: () => void): void {
  if (backing.available) describe(suite, fn)
  else reportUnavailable(backing, suite)
}

/** `describe` when `backing` answers, else nothing: for a file that reported the backing missing once already. */
export function describeIf(backing: Backing): (suite: string, fn: () => void) => void {
  return backing.available ? (suite, fn) => describe(suite, fn) : () => {}
}

/** `test` when `backing` answers, else nothing (see describeIf). */
export function testIf(
  backing: Backing,
): (name: string, fn: () => Promise<void> | void, timeoutMs?: number) => void {
  return backing.available ? (name, fn, timeoutMs) => test(name, fn, timeoutMs) : () => {}
}

export const describePostgres = (suite: string, fn: () => void): void => describeWith(postgres, suite, fn)
export const describeRedis = (suite: string, fn: () => void): void => describeWith(redis, suite, fn)

/** A fresh schema name for one test file's run; `dropSchema` removes it afterwards. */
export function freshSchema(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
}

export async function dropSchema(schema: string): Promise<void> {
  const sql = new SQL(POSTGRES_URL, { max: 1 })
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  } finally {
    await sql.close()
  }
}

export const databaseUrl = (schema: string): string => `${POSTGRES_URL}?schema=${schema}`

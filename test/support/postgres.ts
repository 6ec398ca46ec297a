import { SQL } from 'bun'

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

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

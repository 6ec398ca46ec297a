import { Database } from 'bun:sqlite'
import { afterEach } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Opens SQLite files in a temp folder as SqliteStore opens its own (WAL, synchronous =
 * NORMAL), each with the table `ddl` makes; the folders go after each test.
 */
export function walDatabasesAfterEach(): (ddl: string) => { db: Database; path: string } {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })
  return (ddl) => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-relay-wal-'))
    dirs.push(dir)
    const path = join(dir, 'db.sqlite')
    const db = new Database(path, { create: true, strict: true })
    db.exec('PRAGMA journal_mode = WAL')
    db.exec('PRAGMA synchronous = NORMAL')
    db.exec(ddl)
    return { db, path }
  }
}

import { Database } from 'bun:sqlite'

/**
 * Tells a worker process that starts on a SQLite file whether another one is alive on it,
 * so that leases left by a process that died are released at once instead of after
 * JOB_LEASE.
 *
 * Every worker holds a SHARED lock on a side file `<db>.lock` for as long as it runs: a read
 * transaction on a database in rollback-journal mode (WAL would not lock the file). The
 * operating system drops the lock when the process ends, `kill -9` included. A process that
 * can take the EXCLUSIVE lock at its start is therefore the only worker on the file: every
 * lease still held belongs to a process that died. One that cannot (another worker is alive)
 * releases nothing.
 */
export class SqlitePresence {
  private readonly db: Database
  /** True while this process holds the EXCLUSIVE lock: no other worker is alive. */
  readonly alone: boolean

  constructor(databasePath: string) {
    this.db = new Database(`${databasePath}.lock`, { create: true })
    this.db.exec('PRAGMA journal_mode = DELETE')
    this.db.exec('PRAGMA busy_timeout = 0')
    this.alone = this.tryExclusive()
  }

  private tryExclusive(): boolean {
    try {
      this.db.exec('BEGIN EXCLUSIVE')
      return true
    } catch (error) {
      if ((error as { errno?: number }).errno === 5) return false // SQLITE_BUSY: someone holds SHARED
      throw error
    }
  }

  /**
   * Steps down from EXCLUSIVE (if held) to the SHARED lock kept for the process's lifetime.
   * Another process may be taking EXCLUSIVE at this moment: the wait for it is short.
   */
  share(): void {
    if (this.db.inTransaction) this.db.exec('COMMIT')
    this.db.exec('PRAGMA busy_timeout = 5000')
    this.db.exec('BEGIN')
    this.db.query('SELECT COUNT(*) FROM sqlite_master').get()
  }

  close(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK')
    this.db.close()
  }
}

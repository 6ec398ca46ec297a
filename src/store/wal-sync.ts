import { closeSync, fsync, fsyncSync, openSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * fsync of an SQLite database's WAL file on the thread pool, one at a time, for a connection
 * that commits with synchronous = NORMAL (the WAL written, not synced). `sync(done)` calls
 * `done` once an fsync that began after the call has finished: every commit before the call
 * is then on disk. While one fsync runs, the calls that come in wait for the next, which
 * covers them all: the event loop goes on meanwhile, and under load one fsync serves many
 * commits.
 */
export class WalSync {
  private readonly fd: number
  private waiting: ((error: Error | null) => void)[] = []
  private running = false
  private closed = false
  private idle: (() => void) | undefined
  private afterSync: (() => void)[] = []

  /** `databasePath`'s WAL must exist (SQLite creates it with the first write in WAL mode). */
  constructor(databasePath: string) {
    this.fd = openSync(`${databasePath}-wal`, 'r')
    // The WAL's name in its folder must survive a power cut as well: SQLite syncs the folder
    // on the first sync of a new WAL, which with NORMAL may be long after the first commit.
    const folder = openSync(dirname(databasePath), 'r')
    try {
      fsyncSync(folder)
    } finally {
      closeSync(folder)
    }
  }

  sync(done: (error: Error | null) => void): void {
    if (this.closed) {
      done(new Error('the store is closed'))
      return
    }
    this.waiting.push(done)
    if (!this.running) this.next()
  }

  /** Whether an fsync is under way. */
  get busy(): boolean {
    return this.running
  }

  /** Runs `then` once the fsync under way has finished (at once when none is). */
  whenIdle(then: () => void): void {
    if (this.running) this.afterSync.push(then)
    else then()
  }

  /** Waits for the fsyncs asked for so far, then closes the file. */
  async close(): Promise<void> {
    if (this.running) await new Promise<void>((resolve) => (this.idle = resolve))
    this.closed = true
    closeSync(this.fd)
  }

  private next(): void {
    const batch = this.waiting
    if (batch.length === 0) {
      this.running = false
      this.idle?.()
      return
    }
    this.waiting = []
    this.running = true
    fsync(this.fd, (error) => {
      for (const done of batch) done(error)
      const after = this.afterSync
      this.afterSync = []
      for (const then of after) then()
      this.next()
    })
  }
}

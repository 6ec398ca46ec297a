import type { Database } from 'bun:sqlite'
import { sqliteFault } from './faults.ts'

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

interface QueuedWrite {
  work: () => unknown
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/**
 * Group commit: the writes asked for in one turn of the event loop run in one IMMEDIATE
 * transaction, each in a savepoint of its own, and share its one fsync (synchronous = FULL
 * costs a few hundred µs per commit, which one commit per request turns into the ceiling of
 * the intake). Every caller's promise settles only after the commit that holds its write,
 * so a 202 still follows its own durable commit; a write that throws rolls back alone.
 * A fault of the database (disk full, I/O error, busy past the timeout) fails every write of
 * the batch with StoreUnavailableError and leaves nothing open: the next batch starts clean.
 */
export class GroupCommit {
  private queue: QueuedWrite[] = []

  constructor(private readonly db: Database) {}

  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const first = this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject }) === 1
      if (first) setImmediate(() => this.commit())
    })
  }

  /**
   * Resolves once the writes asked for so far are committed, or have failed. Reads wait for
   * it, so a read sees every write that was asked for before it, as when each write committed
   * on the spot; a batch that failed (disk full) fails its writers, not the reads behind it.
   */
  flushed(): Promise<unknown> {
    return this.queue.length === 0 ? Promise.resolve() : this.run(() => undefined).catch(() => undefined)
  }

  /** Commits every queued write now: on the next turn of the event loop, and on close. */
  commit(): void {
    const batch = this.queue
    if (batch.length === 0) return
    this.queue = []
    const outcomes: Outcome[] = []
    try {
      this.rollBack()
      this.db.query('BEGIN IMMEDIATE').run()
      for (const write of batch) outcomes.push(this.inSavepoint(write.work))
      this.db.query('COMMIT').run()
    } catch (error) {
      this.rollBack()
      const failure = sqliteFault(error)
      for (const write of batch) write.reject(failure)
      return
    }
    batch.forEach((write, i) => {
      const outcome = outcomes[i] as Outcome
      if (outcome.ok) write.resolve(outcome.value)
      else write.reject(sqliteFault(outcome.error))
    })
  }

  /**
   * Ends a transaction a failure left open (SQLite rolls back by itself on SQLITE_FULL). A
   * ROLLBACK that fails as well is tried again before the next batch begins.
   */
  private rollBack(): void {
    if (!this.db.inTransaction) return
    try {
      this.db.query('ROLLBACK').run()
    } catch {
      // Still open: the next commit() tries again first.
    }
  }

  private inSavepoint(work: () => unknown): Outcome {
    this.db.query('SAVEPOINT write').run()
    try {
      const value = work()
      this.db.query('RELEASE write').run()
      return { ok: true, value }
    } catch (error) {
      // Some errors (disk full, I/O) end the whole transaction: then the batch fails as one.
      if (!this.db.inTransaction) throw error
      this.db.query('ROLLBACK TO write').run()
      this.db.query('RELEASE write').run()
      return { ok: false, error }
    }
  }
}

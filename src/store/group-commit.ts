import type { Database } from 'bun:sqlite'
import { sqliteFault } from './faults.ts'
import { StoreUnavailableError } from './store.ts'
import type { WalSync } from './wal-sync.ts'

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

/**
 * When a write's caller hears back. `synced`: once it is on disk, so it survives a power cut
 * (an accept: a 202 promises that; an answer: a callback follows it). `committed`: once every
 * reader sees it; a power cut may undo it, as a crash undoes it anyway (a claim, a lease
 * renewal, an attempt counter: the lease runs out and the job is taken again).
 */
export type Durability = 'synced' | 'committed'

interface QueuedWrite {
  work: () => unknown
  durability: Durability
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
  committed: ((value: unknown) => void) | undefined
}

/**
 * Group commit: the writes asked for in one turn of the event loop run in one IMMEDIATE
 * transaction; a write that throws rolls back alone. A savepoint per write costs about a
 * seventh of an accept's CPU (measured: 33 – 35 against 26 – 30 µs), so a batch first runs
 * without any, and only when one of its writes throws is the transaction rolled back and the
 * batch run again, each write in a savepoint of its own: a write's `work` must do nothing but
 * SQL, so that it may run twice. The commit does not wait for the disk (synchronous =
 * NORMAL): the WAL is then fsynced off the event loop (wal-sync.ts), and a `synced` write's
 * promise settles only after that, so a 202 still follows its own durable commit, while the
 * loop takes the next requests instead of blocking in fsync (up to milliseconds a commit on a
 * busy disk).
 * A fault of the database (disk full, I/O error, busy past the timeout) fails every write of
 * the batch with StoreUnavailableError and leaves nothing open: the next batch starts clean.
 */
export class GroupCommit {
  private queue: QueuedWrite[] = []

  /** `wal`: how the WAL is synced; none (an in-memory database): `synced` means committed. */
  constructor(
    private readonly db: Database,
    private readonly wal: WalSync | undefined,
  ) {}

  /**
   * `committed`: called with the write's value as soon as its transaction has committed, before
   * the promise of a `synced` write settles (which waits for the WAL's fsync). What it starts
   * must need only that every reader sees the write: a claim at accept starts its LLM call
   * there, since nothing the call stores can reach the disk before the accept does (the WAL
   * is synced in order). It must not throw; if it does, the write still settles as it would.
   */
  run<T>(work: () => T, durability: Durability = 'synced', committed?: (value: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const write: QueuedWrite = {
        work,
        durability,
        resolve: resolve as (value: unknown) => void,
        reject,
        committed: committed as ((value: unknown) => void) | undefined,
      }
      if (this.queue.push(write) === 1) setImmediate(() => this.commitAfterSync())
    })
  }

  /**
   * Resolves once the writes asked for so far are committed, or have failed. Reads wait for
   * it, so a read sees every write that was asked for before it, as when each write committed
   * on the spot; a batch that failed (disk full) fails its writers, not the reads behind it.
   */
  flushed(): Promise<unknown> {
    return this.queue.length === 0
      ? Promise.resolve()
      : this.run(() => undefined, 'committed').catch(() => undefined)
  }

  /**
   * While an fsync runs, the writes asked for meanwhile wait for it and then commit as one
   * batch: as many commits as a blocking fsync would allow, so as few WAL page writes.
   */
  private commitAfterSync(): void {
    if (this.wal?.busy) this.wal.whenIdle(() => this.commit())
    else this.commit()
  }

  /** Commits every queued write now: on the next turn of the event loop, and on close. */
  commit(): void {
    const batch = this.queue
    if (batch.length === 0) return
    this.queue = []
    let outcomes: Outcome[]
    try {
      this.rollBack()
      this.db.query('BEGIN IMMEDIATE').run()
      outcomes = this.allOrNothing(batch) ?? this.eachInSavepoint(batch)
      // A batch of one write that failed has been rolled back already.
      if (this.db.inTransaction) this.db.query('COMMIT').run()
    } catch (error) {
      this.rollBack()
      const failure = sqliteFault(error)
      for (const write of batch) write.reject(failure)
      return
    }
    const unsynced: { write: QueuedWrite; value: unknown }[] = []
    let startedWork = false
    batch.forEach((write, i) => {
      const outcome = outcomes[i] as Outcome
      if (outcome.ok && write.committed) {
        startedWork = true
        try {
          write.committed(outcome.value)
        } catch {
          // Its own fault: the write is committed all the same, and its caller hears so.
        }
      }
      if (!outcome.ok) write.reject(sqliteFault(outcome.error))
      else if (write.durability === 'synced' && this.wal) unsynced.push({ write, value: outcome.value })
      else write.resolve(outcome.value)
    })
    // What a `committed` callback started (an LLM call) goes on while the fsync runs on the
    // thread pool: a fast fsync on the event loop would hold it back until the sync is done.
    if (unsynced.length > 0)
      this.wal?.sync((error) => {
        // Committed but not known to be on disk: its caller must not promise it is.
        const failure =
          error && new StoreUnavailableError(`SQLite: the WAL could not be synced: ${error.message}`)
        for (const { write, value } of unsynced) failure ? write.reject(failure) : write.resolve(value)
      }, startedWork)
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

  /**
   * Every write of the batch in the open transaction, without savepoints. Undefined when one
   * threw and the transaction is still open: it is then rolled back and begun again, and
   * nothing of the batch is left. A single write needs no second run: its failure is its own.
   */
  private allOrNothing(batch: QueuedWrite[]): Outcome[] | undefined {
    if (batch.length === 1) return [this.inTransaction((batch[0] as QueuedWrite).work)]
    const outcomes: Outcome[] = []
    for (const write of batch) {
      try {
        outcomes.push({ ok: true, value: write.work() })
      } catch (error) {
        // Some errors (disk full, I/O) end the whole transaction: then the batch fails as one.
        if (!this.db.inTransaction) throw error
        // Not a savepoint around the batch: SQLite then journals every page the batch changes,
        // which cost more than a savepoint per write (measured: 36 against 33 µs an accept,
        // and 26 – 31 without either). The write lock is let go and taken again instead.
        this.db.query('ROLLBACK').run()
        this.db.query('BEGIN IMMEDIATE').run()
        return undefined
      }
    }
    return outcomes
  }

  /** The batch's one write: if it throws, the whole transaction is rolled back with it. */
  private inTransaction(work: () => unknown): Outcome {
    try {
      return { ok: true, value: work() }
    } catch (error) {
      if (!this.db.inTransaction) throw error
      this.db.query('ROLLBACK').run()
      return { ok: false, error }
    }
  }

  private eachInSavepoint(batch: QueuedWrite[]): Outcome[] {
    return batch.map((write) => this.inSavepoint(write.work))
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

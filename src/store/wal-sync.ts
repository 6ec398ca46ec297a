import { closeSync, fsync, fsyncSync, openSync } from 'node:fs'
import { dirname } from 'node:path'

/** An fsync that takes less than this (on average, lately) runs on the event loop. */
const ON_THE_LOOP_BELOW_MS = 0.1

/**
 * fsync of an SQLite database's WAL file, for a connection that commits with synchronous =
 * NORMAL (the WAL written, not synced). `sync(done)` calls `done` once an fsync that began
 * after the call has finished: every commit before the call is then on disk.
 *
 * While the disk syncs very fast (under 0.1 ms), the fsync runs at once on the event loop, as
 * SQLite's own would with synchronous = FULL: a thread-pool round trip costs 4-5 µs of CPU per
 * batch, measured. Slower ones run on the thread pool, one at a time, and the event loop goes
 * on meanwhile; the calls that come in during one wait for the next, which covers them all.
 * Each fsync's time decides where the next one runs. Measured on a disk that syncs in 0.18 ms,
 * in turns against a bound of 0.5 ms (the fsync then on the loop): pickup 1.0 – 1.4 against
 * 1.35 – 1.58 ms, the 202 1.26 – 1.59 against 1.62 – 1.95 ms, the relay's CPU per job and the
 * intake beside a busy worker no worse (docs/benchmarks.md, round 5).
 */
export class WalSync {
  private readonly fd: number
  private waiting: ((error: Error | null) => void)[] = []
  private running = false
  private closed = false
  private idle: (() => void) | undefined
  private afterSync: (() => void)[] = []
  /** How long fsyncs take lately (a moving average, ms). */
  private fsyncMs = 0

  /**
   * `databasePath`'s WAL must exist (SQLite creates it with the first write in WAL mode).
   * `onTheLoopBelowMs`: fsyncs faster than this run on the event loop (0: never, for tests).
   */
  constructor(
    databasePath: string,
    private readonly onTheLoopBelowMs = ON_THE_LOOP_BELOW_MS,
  ) {
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

  /**
   * `meanwhile`: the caller has work for the event loop while the fsync runs (an LLM call to
   * send): the fsync then goes to the thread pool whatever it takes lately.
   */
  sync(done: (error: Error | null) => void, meanwhile = false): void {
    if (this.closed) {
      done(new Error('the store is closed'))
      return
    }
    if (!meanwhile && !this.running && this.fsyncMs < this.onTheLoopBelowMs) {
      const started = performance.now()
      let error: Error | null = null
      try {
        fsyncSync(this.fd)
      } catch (caught) {
        error = caught as Error
      }
      this.took(performance.now() - started)
      done(error)
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

  private took(ms: number): void {
    this.fsyncMs = this.fsyncMs * 0.8 + ms * 0.2
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
    const started = performance.now()
    fsync(this.fd, (error) => {
      this.took(performance.now() - started)
      for (const done of batch) done(error)
      const after = this.afterSync
      this.afterSync = []
      for (const then of after) then()
      this.next()
    })
  }
}

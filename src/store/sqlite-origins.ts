import type { JobError } from '../job.ts'
import { sqliteFault } from './faults.ts'
import type { GroupCommit } from './group-commit.ts'
import {
  type Admission,
  afterFailure,
  type BreakerPolicy,
  type OriginChange,
  type OriginHealth,
  type OriginRow,
  type OriginStore,
  originFromRow,
} from './origin-store.ts'
import type { StoreDatabase } from './sqlite-database.ts'

type Value = string | number | null

interface BreakerRow {
  state: 'closed' | 'open'
  failures: number
  opened_at: number | null
  probe_at: number | null
}

type ClosedRow = BreakerRow & { state: 'closed' }
/** Deliveries go (no row: never failed). */
const closed = (row: BreakerRow | null): row is ClosedRow | null => !row || row.state === 'closed'
/** Closed with no failure counted: a success has nothing to reset. */
const clean = (row: BreakerRow | null): row is (ClosedRow & { failures: 0 }) | null =>
  !row || (row.state === 'closed' && row.failures === 0)

/**
 * The origins' breakers on the SqliteStore's handle. One writer: each method reads and writes
 * in one write of the group commit, so nothing commits in between. A healthy origin (every
 * callback's case) is one read on the spot, outside the group commit: a write there would
 * cost a transaction, and its caller a wait for the WAL's fsync, before every callback. A
 * breaker change the read does not see yet (queued in this turn) is seen by the next callback.
 */
export class SqliteOriginStore implements OriginStore {
  constructor(
    private readonly db: StoreDatabase,
    private readonly writes: GroupCommit,
  ) {}

  private breaker(origin: string): BreakerRow | null {
    return this.db
      .query<BreakerRow, [string]>(
        'SELECT state, failures, opened_at, probe_at FROM callback_origins WHERE origin = ?',
      )
      .get(origin)
  }

  /** The breaker as committed, read now (outside the group commit): a database fault is a store fault. */
  private committedBreaker(origin: string): BreakerRow | null {
    try {
      return this.breaker(origin)
    } catch (error) {
      throw sqliteFault(error)
    }
  }

  async admitDelivery(origin: string, now: number, probeMs: number): Promise<Admission> {
    if (closed(this.committedBreaker(origin))) return { go: true, probe: false }
    // Taking the probe is a claim like any other: a power cut that loses it loses nothing.
    return this.writes.run((): Admission => {
      const row = this.breaker(origin)
      if (closed(row)) return { go: true, probe: false }
      if ((row.probe_at ?? 0) > now) return { go: false, until: row.probe_at as number }
      this.db
        .query<never, Value[]>('UPDATE callback_origins SET probe_at = ?, updated_at = ? WHERE origin = ?')
        .run(now + probeMs, now, origin)
      return { go: true, probe: true }
    }, 'committed')
  }

  recordOriginFailure(
    origin: string,
    error: JobError,
    now: number,
    policy: BreakerPolicy,
  ): Promise<OriginChange> {
    return this.writes.run((): OriginChange => {
      const row = this.breaker(origin)
      const next = afterFailure(
        row
          ? { state: row.state, failures: row.failures, openedAt: row.opened_at, probeAt: row.probe_at }
          : undefined,
        now,
        policy,
      )
      this.db
        .query<never, Value[]>(
          `INSERT INTO callback_origins (origin, state, failures, last_error_code, last_error_message, last_failure_at,
             opened_at, probe_at, updated_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?6)
           ON CONFLICT (origin) DO UPDATE SET state = ?2, failures = ?3, last_error_code = ?4, last_error_message = ?5,
             last_failure_at = ?6, opened_at = ?7, probe_at = ?8, updated_at = ?6`,
        )
        .run(origin, next.state, next.failures, error.code, error.message, now, next.openedAt, next.probeAt)
      return next.change
    })
  }

  async recordOriginSuccess(origin: string, now: number): Promise<OriginChange> {
    if (clean(this.committedBreaker(origin))) return undefined
    return this.writes.run((): OriginChange => {
      const row = this.breaker(origin)
      if (clean(row)) return undefined
      this.db
        .query<never, Value[]>(
          `UPDATE callback_origins SET state = 'closed', failures = 0, opened_at = NULL, probe_at = NULL, updated_at = ?
           WHERE origin = ?`,
        )
        .run(now, origin)
      if (row.state === 'closed') return undefined
      // The waiting deliveries, due now, oldest first: created_at orders them as accepted.
      this.db
        .query<never, Value[]>(
          `UPDATE jobs SET available_at = created_at
           WHERE status = 'delivering' AND callback_origin = ? AND lease_owner IS NULL AND available_at > ?`,
        )
        .run(origin, now)
      return 'closed'
    })
  }

  async listOrigins(): Promise<OriginHealth[]> {
    await this.writes.flushed()
    return this.db
      .query<OriginRow, []>(
        `SELECT o.*, (SELECT COUNT(*) FROM jobs j WHERE j.status = 'delivering' AND j.callback_origin = o.origin)
           AS backlog
         FROM callback_origins o ORDER BY o.state DESC, o.failures DESC, o.origin`,
      )
      .all()
      .map(originFromRow)
  }
}

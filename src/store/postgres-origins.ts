import type { SQL } from 'bun'
import type { JobError } from '../job.ts'
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

interface BreakerRow {
  state: 'closed' | 'open'
  failures: number
  opened_at: string | null
  probe_at: string | null
}

const num = (v: string | null): number | null => (v === null ? null : Number(v))

/**
 * The origins' breakers on the PostgresStore's pool, shared by every instance. A change of
 * state reads the row `FOR UPDATE` first, so of two instances failing at once one opens the
 * origin and the other sees it open; of two asking for the probe, one gets it.
 */
export class PostgresOriginStore implements OriginStore {
  constructor(
    private readonly sql: SQL,
    /** Where instances listen for work that became due (see PostgresStore.listen). */
    private readonly wakeChannel: string,
  ) {}

  async admitDelivery(origin: string, now: number, probeMs: number): Promise<Admission> {
    const [row] = await this.sql<BreakerRow[]>`
      SELECT state, failures, opened_at, probe_at FROM callback_origins WHERE origin = ${origin}`
    if (!row || row.state === 'closed') return { go: true, probe: false }
    const probeAt = Number(row.probe_at ?? 0)
    if (probeAt > now) return { go: false, until: probeAt }
    const taken = await this.sql`
      UPDATE callback_origins SET probe_at = ${now + probeMs}, updated_at = ${now}
      WHERE origin = ${origin} AND state = 'open' AND probe_at <= ${now} RETURNING origin`
    return taken.length === 1 ? { go: true, probe: true } : { go: false, until: now + probeMs }
  }

  recordOriginFailure(
    origin: string,
    error: JobError,
    now: number,
    policy: BreakerPolicy,
  ): Promise<OriginChange> {
    return this.sql.begin(async (tx): Promise<OriginChange> => {
      await tx`
        INSERT INTO callback_origins (origin, state, failures, updated_at) VALUES (${origin}, 'closed', 0, ${now})
        ON CONFLICT (origin) DO NOTHING`
      const [row] = await tx<BreakerRow[]>`
        SELECT state, failures, opened_at, probe_at FROM callback_origins WHERE origin = ${origin} FOR UPDATE`
      const next = afterFailure(
        row && {
          state: row.state,
          failures: row.failures,
          openedAt: num(row.opened_at),
          probeAt: num(row.probe_at),
        },
        now,
        policy,
      )
      await tx`
        UPDATE callback_origins SET state = ${next.state}, failures = ${next.failures},
          last_error_code = ${error.code}, last_error_message = ${error.message.replaceAll('\u0000', '\uFFFD')},
          last_failure_at = ${now}, opened_at = ${next.openedAt}, probe_at = ${next.probeAt}, updated_at = ${now}
        WHERE origin = ${origin}`
      return next.change
    })
  }

  async recordOriginSuccess(origin: string, now: number): Promise<OriginChange> {
    // The common case, a healthy origin, is one read that finds nothing to change.
    const [seen] = await this.sql<BreakerRow[]>`
      SELECT state, failures, opened_at, probe_at FROM callback_origins
      WHERE origin = ${origin} AND (failures > 0 OR state = 'open')`
    if (!seen) return undefined
    return this.sql.begin(async (tx): Promise<OriginChange> => {
      const [row] = await tx<BreakerRow[]>`
        SELECT state, failures, opened_at, probe_at FROM callback_origins WHERE origin = ${origin} FOR UPDATE`
      if (!row || (row.state === 'closed' && row.failures === 0)) return undefined
      await tx`
        UPDATE callback_origins SET state = 'closed', failures = 0, opened_at = NULL, probe_at = NULL,
          updated_at = ${now}
        WHERE origin = ${origin}`
      if (row.state === 'closed') return undefined
      // The waiting deliveries, due now, oldest first: created_at orders them as accepted.
      await tx`
        UPDATE jobs SET available_at = created_at
        WHERE status = 'delivering' AND callback_origin = ${origin} AND lease_owner IS NULL
          AND available_at > ${now}`
      await tx.notify(this.wakeChannel)
      return 'closed'
    })
  }

  async listOrigins(): Promise<OriginHealth[]> {
    const rows = await this.sql<OriginRow[]>`
      SELECT o.*, (SELECT COUNT(*) FROM jobs j WHERE j.status = 'delivering' AND j.callback_origin = o.origin)
        AS backlog
      FROM callback_origins o ORDER BY o.state DESC, o.failures DESC, o.origin`
    return rows.map(originFromRow)
  }
}

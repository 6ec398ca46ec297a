import type { JobError } from '../job.ts'

/**
 * The health of each callback origin (scheme, host and port), kept in the database so that
 * every instance of a fleet sees the same breaker: a streak of failed attempts across jobs
 * opens it; while open, one delivery at a time goes out as a probe; a success closes it.
 * Healthy origins have no row until their first failure.
 */

export type OriginState = 'closed' | 'open'

export interface OriginHealth {
  origin: string
  state: OriginState
  /** Failed attempts in a row, across jobs, since the last success. */
  failures: number
  lastError: JobError | null
  lastFailureAt: number | null
  openedAt: number | null
  /** While open: when the next probe may go. */
  probeAt: number | null
  /** Deliveries to it not yet delivered or dead. */
  backlog: number
}

export interface BreakerPolicy {
  /** CALLBACK_BREAKER_FAILURES: failures in a row that open an origin. */
  threshold: number
  /** CALLBACK_BREAKER_PROBE. */
  probeMs: number
}

/** What an attempt did to its origin: `opened` and `closed` are the changes operators hear of. */
export type OriginChange = 'opened' | 'closed' | undefined

/** Whether a delivery may go now: at once (closed), as the probe (open), or not before `until`. */
export type Admission = { go: true; probe: boolean } | { go: false; until: number }

export interface OriginStore {
  /** Asks whether a delivery may go; for an open origin whose probe is due, takes the probe (one caller wins). */
  admitDelivery(origin: string, now: number, probeMs: number): Promise<Admission>
  /** A failed attempt: the streak grows and may open the origin. */
  recordOriginFailure(
    origin: string,
    error: JobError,
    now: number,
    policy: BreakerPolicy,
  ): Promise<OriginChange>
  /**
   * A successful attempt: the streak ends; an open origin closes and its waiting deliveries are
   * due at once, in acceptance order. Writes nothing for an origin that was healthy.
   */
  recordOriginSuccess(origin: string, now: number): Promise<OriginChange>
  /** Every origin with a row: failing or open, or once so. */
  listOrigins(): Promise<OriginHealth[]>
}

/** The columns as both SQL adapters read them. */
export interface OriginRow {
  origin: string
  state: string
  failures: number
  last_error_code: string | null
  last_error_message: string | null
  last_failure_at: number | string | null
  opened_at: number | string | null
  probe_at: number | string | null
  backlog: number | string
}

const numberOrNull = (value: number | string | null): number | null => (value === null ? null : Number(value))

export function originFromRow(row: OriginRow): OriginHealth {
  return {
    origin: row.origin,
    state: row.state as OriginState,
    failures: row.failures,
    lastError:
      row.last_error_code === null
        ? null
        : ({ code: row.last_error_code, message: row.last_error_message ?? '' } as JobError),
    lastFailureAt: numberOrNull(row.last_failure_at),
    openedAt: numberOrNull(row.opened_at),
    probeAt: numberOrNull(row.probe_at),
    backlog: Number(row.backlog),
  }
}

/** scheme://host:port as the URL standard spells it (lower-case host, default port left out). */
export function originOf(url: string): string {
  return URL.parse(url)?.origin ?? url
}

/** An origin's breaker fields before an attempt (no row: healthy). */
export interface BreakerFields {
  state: OriginState
  failures: number
  openedAt: number | null
  probeAt: number | null
}

/** After a failed attempt: the streak grows; at the threshold a closed origin opens. */
export function afterFailure(
  before: BreakerFields | undefined,
  now: number,
  policy: BreakerPolicy,
): BreakerFields & { change: OriginChange } {
  const failures = (before?.failures ?? 0) + 1
  if (before?.state === 'open') return { ...before, failures, change: undefined }
  if (policy.threshold > 0 && failures >= policy.threshold)
    return { state: 'open', failures, openedAt: now, probeAt: now + policy.probeMs, change: 'opened' }
  return { state: 'closed', failures, openedAt: null, probeAt: null, change: undefined }
}

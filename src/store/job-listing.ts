// Longer than most files: the keyset listing of jobs and the bulk redelivery both stores run, one
// algorithm (per-owner, per-status streams merged newest first) that reads best in one place.
import { type ErrorCode, JOB_STATUSES, type JobStatus } from '../job.ts'
import {
  type JobFilter,
  type JobListQuery,
  type JobPage,
  type JobPosition,
  type JobSummary,
  MESSAGE_PREVIEW_CHARS,
  type RedeliverFilter,
  type RedeliverMatchingResult,
} from './listing.ts'
import {
  chunks,
  firstChars,
  type ListingDialect,
  type RunStatement,
  Statement,
  type Steps,
  textOf,
} from './listing-sql.ts'

/*
 * GET /jobs on both stores. The order is (created_at, seq) newest first: seq breaks ties and
 * never changes, so a page starts strictly after the last one's end whatever is accepted
 * meanwhile. Two indexes (migration "listing"), both led by the owner, since a client key
 * reads only its own:
 *
 *   jobs_owner_status_created        (owner, status, created_at, seq)
 *   jobs_owner_conversation_created  (owner, conversation_id, created_at, seq)
 *
 * An index range is one ordered stream: (owner, status) or (owner, conversation). A page
 * reads the next `limit` + 1 keys of each stream the filter names (every status when it names
 * none; every owner for an admin key, found by seeks), index only, merges them, and fetches
 * the rows of the page by seq: O(streams × limit), however many jobs are kept. Time bounds
 * are ranges inside the streams. Few indexes on purpose: each one costs every accept (and on
 * PostgreSQL every update) a write, which the intake benchmark shows.
 *
 * A text search (`q`) cannot be indexed for substrings at acceptable cost, so it scans, but
 * only a window: the next TEXT_SEARCH_WINDOW jobs of each stream. A page therefore reads at
 * most that many rows a stream; it may hold fewer than `limit` matches, and its `next`
 * continues after the window.
 */

export const TEXT_SEARCH_WINDOW = 5000
/** Streams per statement: SQLite allows 500 terms in a compound SELECT. */
const STREAMS_PER_STATEMENT = 100

const NEWEST_FIRST = 'ORDER BY created_at DESC, seq DESC'

/** One ordered index range: one owner, and one status or the conversation of the filter. */
export interface Stream {
  owner: string
  status: JobStatus | undefined
}

function streamConditions(s: Statement, stream: Stream, filter: JobFilter): string[] {
  const where = [`owner = ${s.param(stream.owner)}`]
  if (stream.status !== undefined) where.push(`status = ${s.param(stream.status)}`)
  if (filter.conversationId !== undefined) {
    where.push(`conversation_id = ${s.param(filter.conversationId)}`)
    // One stream per owner in the conversation's range; statuses are checked on its rows.
    const statuses = filter.statuses ?? []
    if (stream.status === undefined && statuses.length > 0)
      where.push(`status IN (${statuses.map((st) => s.param(st)).join(', ')})`)
  }
  if (filter.createdAfter !== undefined) where.push(`created_at >= ${s.param(filter.createdAfter)}`)
  if (filter.createdBefore !== undefined) where.push(`created_at < ${s.param(filter.createdBefore)}`)
  return where
}

const before = (s: Statement, p: JobPosition) =>
  `(created_at, seq) < (${s.param(p.createdAt)}, ${s.param(p.seq)})`
const atOrAfter = (s: Statement, p: JobPosition) =>
  `(created_at, seq) >= (${s.param(p.createdAt)}, ${s.param(p.seq)})`

/** The next keys of one stream, newest first: before `after` and, with a window, at or after `from`. */
function streamKeys(
  s: Statement,
  stream: Stream,
  query: Omit<JobListQuery, 'limit'>,
  limit: number,
  from?: JobPosition,
): string {
  const where = streamConditions(s, stream, query)
  if (query.after) where.push(before(s, query.after))
  if (from) where.push(atOrAfter(s, from))
  if (query.text !== undefined)
    where.push(s.dialect.messageContains(s.param(s.dialect.searchValue(query.text))))
  return `SELECT seq, created_at FROM jobs WHERE ${where.join(' AND ')} ${NEWEST_FIRST} LIMIT ${s.param(limit)}`
}

/** One stream's next keys, on their own (what the EXPLAIN tests read). */
export function streamKeysStatement(
  dialect: ListingDialect,
  stream: Stream,
  query: Omit<JobListQuery, 'limit'>,
  limit: number,
  from?: JobPosition,
): Statement {
  const s = new Statement(dialect)
  s.sql = streamKeys(s, stream, query, limit, from)
  return s
}

/** The newest `limit` keys of several streams together, in one statement. */
export function mergedKeysStatement(
  dialect: ListingDialect,
  streams: readonly Stream[],
  query: Omit<JobListQuery, 'limit'>,
  limit: number,
  from?: JobPosition,
): Statement {
  const s = new Statement(dialect)
  const parts = streams.map((st, i) => `SELECT * FROM (${streamKeys(s, st, query, limit, from)}) AS s${i}`)
  s.sql = `SELECT * FROM (${parts.join(' UNION ALL ')}) AS page ${NEWEST_FIRST} LIMIT ${s.param(limit)}`
  return s
}

/** The listing's columns of the jobs with these seqs: primary-key lookups. */
export function summariesStatement(dialect: ListingDialect, seqs: readonly number[]): Statement {
  const s = new Statement(dialect)
  s.sql = `SELECT seq, id, owner, conversation_id, sequence, status, model,
      ${dialect.messageHead(MESSAGE_PREVIEW_CHARS)} AS message_head, error_code, llm_attempts,
      delivery_attempts, created_at, updated_at
    FROM jobs WHERE seq IN (${seqs.map((q) => s.param(q)).join(', ')})`
  return s
}

/** Where a text search's window over one stream ends: its TEXT_SEARCH_WINDOW-th job, from the index. */
export function searchWindowEndStatement(
  dialect: ListingDialect,
  stream: Stream,
  query: Omit<JobListQuery, 'limit'>,
): Statement {
  const s = new Statement(dialect)
  const where = streamConditions(s, stream, query)
  if (query.after) where.push(before(s, query.after))
  s.sql = `SELECT created_at, seq FROM jobs WHERE ${where.join(' AND ')} ${NEWEST_FIRST}
    LIMIT 1 OFFSET ${s.param(TEXT_SEARCH_WINDOW - 1)}`
  return s
}

/**
 * Every owner, by one seek each along the conversations' primary key (owner, id): each job
 * has its conversation row, and those rows are never deleted.
 */
export function ownersStatement(dialect: ListingDialect): Statement {
  const s = new Statement(dialect)
  s.sql = `WITH RECURSIVE owners(owner) AS (
      SELECT MIN(owner) FROM conversations
      UNION ALL
      SELECT (SELECT MIN(c.owner) FROM conversations c WHERE c.owner > owners.owner) FROM owners
      WHERE owners.owner IS NOT NULL)
    SELECT owner FROM owners WHERE owner IS NOT NULL`
  return s
}

/** Whose jobs to read: the one owner, or every owner. */
export async function ownersOf(run: RunStatement, dialect: ListingDialect, owner: string | undefined) {
  if (owner !== undefined) return [owner]
  return (await run(ownersStatement(dialect))).map((r) => String(r.owner))
}

/** The streams a filter reads, per owner: one for its conversation, else one per status. */
export function streamsOf(owners: readonly string[], filter: JobFilter): Stream[] {
  const named = [...new Set(filter.statuses ?? [])]
  const statuses: (JobStatus | undefined)[] =
    filter.conversationId !== undefined ? [undefined] : named.length > 0 ? named : [...JOB_STATUSES]
  return owners.flatMap((owner) => statuses.map((status) => ({ owner, status })))
}

/** Whether any job still matches a bulk redelivery: one seek per owner. */
export function redeliverRemainsStatement(
  dialect: ListingDialect,
  owners: readonly string[],
  filter: RedeliverFilter,
): Statement {
  const s = new Statement(dialect)
  const parts = owners.map((owner, i) => {
    const where = streamConditions(s, { owner, status: filter.status }, filter)
    return `SELECT * FROM (SELECT 1 AS found FROM jobs WHERE ${where.join(' AND ')} LIMIT 1) AS o${i}`
  })
  s.sql = `SELECT COUNT(*) AS more FROM (${parts.join(' UNION ALL ')}) AS remaining`
  return s
}

const positionOf = (row: Record<string, unknown>): JobPosition => ({
  createdAt: Number(row.created_at),
  seq: Number(row.seq),
})

const newer = (a: JobPosition, b: JobPosition): number => b.createdAt - a.createdAt || b.seq - a.seq

function summaryOf(row: Record<string, unknown>): JobSummary {
  return {
    id: String(row.id),
    owner: String(row.owner),
    conversationId: String(row.conversation_id),
    sequence: Number(row.sequence),
    status: row.status as JobStatus,
    model: textOf(row.model),
    messagePreview: firstChars(textOf(row.message_head), MESSAGE_PREVIEW_CHARS),
    errorCode: row.error_code === null ? null : (row.error_code as ErrorCode),
    llmAttempts: Number(row.llm_attempts),
    deliveryAttempts: Number(row.delivery_attempts),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    position: positionOf(row),
  }
}

/** `Store.listJobs` for an adapter that runs the statements. */
export async function readJobPage(
  run: RunStatement,
  dialect: ListingDialect,
  query: JobListQuery,
): Promise<JobPage> {
  const streams = streamsOf(await ownersOf(run, dialect, query.owner), query)
  let windowEnd: JobPosition | undefined
  if (query.text !== undefined) {
    // The window ends at the newest of the streams' ends: no stream reads more than its window.
    const ends = await Promise.all(streams.map((st) => run(searchWindowEndStatement(dialect, st, query))))
    windowEnd = ends.flat().map(positionOf).sort(newer)[0]
  }
  const keys = await Promise.all(
    chunks(streams, STREAMS_PER_STATEMENT).map((part) =>
      run(mergedKeysStatement(dialect, part, query, query.limit + 1, windowEnd)),
    ),
  )
  const page = keys
    .flat()
    .map(positionOf)
    .sort(newer)
    .slice(0, query.limit + 1)
  const more = page.length > query.limit
  const shown = page.slice(0, query.limit)
  const rows =
    shown.length === 0
      ? []
      : await run(
          summariesStatement(
            dialect,
            shown.map((p) => p.seq),
          ),
        )
  const jobs = rows.map(summaryOf).sort((a, b) => newer(a.position, b.position))
  const next = more ? (shown.at(-1) ?? null) : (windowEnd ?? null)
  return { jobs, next }
}

/**
 * `Store.redeliverMatching` as the steps of one transaction: each job as `redeliver` does it
 * (back to delivery, due now, its failures forgotten), the WHERE stating the from-status.
 */
export function* redeliverMatchingSteps(
  dialect: ListingDialect,
  filter: RedeliverFilter,
  limit: number,
  now: number,
): Steps<RedeliverMatchingResult> {
  const owners =
    filter.owner !== undefined
      ? [filter.owner]
      : ((yield { rows: ownersStatement(dialect) }) as Record<string, unknown>[]).map((r) => String(r.owner))
  // Owner by owner, each batch one statement on the (owner, status) range.
  let scheduled = 0
  for (const owner of owners) {
    if (scheduled >= limit) break
    const s = new Statement(dialect)
    const where = streamConditions(s, { owner, status: filter.status }, filter)
    const batch = dialect.lockedForUpdate(
      `SELECT seq FROM jobs WHERE ${where.join(' AND ')} LIMIT ${s.param(limit - scheduled)}`,
    )
    s.sql = `UPDATE jobs SET status = 'delivering', available_at = ${s.param(now)}, delivery_failures = 0,
        lease_owner = NULL, updated_at = ${s.param(now)}
      WHERE seq IN (${batch})`
    scheduled += (yield { changes: s }) as number
  }
  const groups = chunks(owners, STREAMS_PER_STATEMENT)
  for (const group of groups) {
    const [row] = (yield { rows: redeliverRemainsStatement(dialect, group, filter) }) as Record<
      string,
      unknown
    >[]
    if (Number(row?.more) > 0) return { scheduled, more: true }
  }
  return { scheduled, more: false }
}

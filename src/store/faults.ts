import { StoreUnavailableError } from './store.ts'

/**
 * Which errors are faults of the database itself (the disk, the server, the connection), as
 * opposed to a constraint violation or a bug: only those become StoreUnavailableError, which
 * HTTP answers with 503 and the worker retries. Anything else passes through unchanged.
 */

/** SQLite primary result codes (`errno & 0xff`, https://sqlite.org/rescode.html). */
const SQLITE_FAULTS: Record<number, string> = {
  5: 'the database file is locked by another writer (SQLITE_BUSY)',
  10: 'a disk I/O error (SQLITE_IOERR)',
  13: 'the disk is full (SQLITE_FULL)',
  14: 'the database file cannot be opened (SQLITE_CANTOPEN)',
}

export function sqliteFault(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !(error instanceof Error)) return error
  const errno = (error as { errno?: unknown }).errno
  const what = typeof errno === 'number' ? SQLITE_FAULTS[errno & 0xff] : undefined
  return what === undefined
    ? error
    : new StoreUnavailableError(`SQLite: ${what}: ${error.message}`, { cause: error })
}

/** Bun's own codes for a connection that could not be made or was lost. */
const POSTGRES_CONNECTION_CODES = new Set([
  'ERR_POSTGRES_CONNECTION_CLOSED',
  'ERR_POSTGRES_CONNECTION_FAILED',
  'ERR_POSTGRES_CONNECTION_REFUSED',
  'ERR_POSTGRES_CONNECTION_TIMEOUT',
  'ERR_POSTGRES_IDLE_TIMEOUT',
  'ERR_POSTGRES_LIFETIME_TIMEOUT',
])

/**
 * SQLSTATEs of a server that cannot do the work now (https://www.postgresql.org/docs/current/errcodes-appendix.html):
 * class 08 (connection), 53 (disk full, out of memory, too many connections), 58 (I/O),
 * 57P01–57P03 (shutting down, restarting, starting), 25006 (a read-only standby after a
 * failover).
 */
const isServerFault = (sqlState: string): boolean =>
  /^(08|53|58)/.test(sqlState) || /^57P0[123]$/.test(sqlState) || sqlState === '25006'

export function postgresFault(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !(error instanceof Error)) return error
  const { code, errno } = error as { code?: unknown; errno?: unknown }
  const fault =
    (typeof code === 'string' && POSTGRES_CONNECTION_CODES.has(code)) ||
    (typeof errno === 'string' && isServerFault(errno))
  return fault ? new StoreUnavailableError(`PostgreSQL: ${error.message}`, { cause: error }) : error
}

import { StoreUnavailableError } from '../store/store.ts'

// Bun's codes for a PostgreSQL connection that is gone, refused or timed out; the server's
// SQLSTATE classes for the same (08 connection exception, 53 insufficient resources, 57P0x
// shutdown or not yet accepting); SQLite's for a full, failing or read-only disk.
const POSTGRES_CODE = /^ERR_POSTGRES_(?:CONNECTION_|IDLE_TIMEOUT|LIFETIME_TIMEOUT)/
const SQLSTATE = /^(?:08|53|57P0)/
const SQLITE_CODE = /^SQLITE_(?:FULL|IOERR|BUSY|LOCKED|CANTOPEN|READONLY|NOMEM)/

function isDatabaseFault(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, errno } = error as { code?: unknown; errno?: unknown }
  return (
    (typeof code === 'string' && (POSTGRES_CODE.test(code) || SQLITE_CODE.test(code))) ||
    (typeof errno === 'string' && SQLSTATE.test(errno))
  )
}

/**
 * Whether an error says the database could not do its part (nothing was written, try later):
 * the store's StoreUnavailableError, or a driver's fault the store let through unwrapped.
 */
export function isStoreFault(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++)
    if (e instanceof StoreUnavailableError || isDatabaseFault(e)) return true
  return false
}

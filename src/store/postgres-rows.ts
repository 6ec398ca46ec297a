import { type JobRow, jobFromRow, type MessageRow, messageFromRow } from './rows.ts'
import type { AcceptResult, HistoryMessage, Job } from './store.ts'

/** The PostgreSQL side of the row mapping (rows.ts): BYTEA texts decoded. */

/*
 * PostgreSQL TEXT cannot hold U+0000, which clients and the LLM may send. The texts that
 * must round-trip byte-exact are therefore BYTEA (UTF-8), decoded here. `ignoreBOM` keeps
 * a leading U+FEFF, which a default TextDecoder would drop.
 */
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { ignoreBOM: true })
export const bytes = (text: string): Uint8Array => utf8.encode(text)
const textOf = (value: Uint8Array): string => fromUtf8.decode(value)
/** Error messages are diagnostics we compose (with upstream text inside): kept as TEXT, NUL replaced. */
export const diagnostic = (text: string): string => text.replaceAll('\u0000', '\uFFFD')

type BytesColumns = 'message' | 'callback_url' | 'model' | 'system_prompt'
export type PgJobRow = Omit<JobRow, BytesColumns | 'response'> &
  Record<BytesColumns, Uint8Array> & { response: Uint8Array | null; request_hash: string }
export type PgMessageRow = Omit<MessageRow, 'content'> & { content: Uint8Array }
/** What a statement resolves to: its rows, and how many it wrote. */
export type Rows<R> = R[] & { count: number }

export const decoded = (row: PgJobRow): JobRow => ({
  ...row,
  message: textOf(row.message),
  callback_url: textOf(row.callback_url),
  model: textOf(row.model),
  system_prompt: textOf(row.system_prompt),
  response: row.response === null ? null : textOf(row.response),
})
export const jobFromPg = (row: PgJobRow): Job => jobFromRow(decoded(row))
export const messageFromPg = (row: PgMessageRow): HistoryMessage =>
  messageFromRow({ ...row, content: textOf(row.content) })

export function replayOf(row: PgJobRow, requestHash: string): AcceptResult {
  const kind = row.request_hash === requestHash ? 'existing' : 'idempotency_conflict'
  return { kind, job: jobFromPg(row) }
}

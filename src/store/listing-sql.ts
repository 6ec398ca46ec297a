/**
 * What the SQL of the listing queries needs to know about an adapter, so both stores run the
 * same statements (and the EXPLAIN tests read the statements the stores run).
 */
export interface ListingDialect {
  placeholder(n: number): string
  /** A condition: the `message` column contains the text in `placeholder` (an exact substring). */
  messageContains(placeholder: string): string
  /** The parameter value searched for in `message`. */
  searchValue(text: string): unknown
  /** A select expression for the start of `message`: at least `chars` characters of it. */
  messageHead(chars: number): string
  /** A `SELECT seq …` whose rows this transaction will write, locked where writers run side by side. */
  lockedForUpdate(select: string): string
  /** A text column compared byte by byte (code point order), as JavaScript compares it. */
  binary(column: string): string
}

/** One statement with its parameters, numbered as they are added. */
export class Statement {
  readonly values: unknown[] = []
  sql = ''

  constructor(readonly dialect: ListingDialect) {}

  param(value: unknown): string {
    this.values.push(value)
    return this.dialect.placeholder(this.values.length)
  }
}

/** Runs a statement and returns its rows. */
export type RunStatement = (statement: Statement) => Promise<Record<string, unknown>[]>
/**
 * One statement of a multi-statement transaction, written once for both stores as a
 * generator of steps: SQLite runs them synchronously inside its group commit, PostgreSQL
 * awaits each inside `begin`. A `rows` step gets the rows back, a `changes` step the count.
 */
export type Step = { rows: Statement } | { changes: Statement }
export type Steps<T> = Generator<Step, T, Record<string, unknown>[] | number>

export function runStepsNow<T>(
  steps: Steps<T>,
  rows: (s: Statement) => Record<string, unknown>[],
  changes: (s: Statement) => number,
): T {
  let next = steps.next(0)
  while (!next.done)
    next = steps.next('rows' in next.value ? rows(next.value.rows) : changes(next.value.changes))
  return next.value
}

export async function runSteps<T>(
  steps: Steps<T>,
  rows: (s: Statement) => Promise<Record<string, unknown>[]>,
  changes: (s: Statement) => Promise<number>,
): Promise<T> {
  let next = steps.next(0)
  while (!next.done)
    next = steps.next('rows' in next.value ? await rows(next.value.rows) : await changes(next.value.changes))
  return next.value
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const fromUtf8 = new TextDecoder('utf-8', { ignoreBOM: true })

/** PostgreSQL keeps client texts as UTF-8 BYTEA; SQLite as TEXT. */
export function textOf(value: unknown): string {
  return value instanceof Uint8Array ? fromUtf8.decode(value) : String(value)
}

/** The first `chars` code points: a preview never ends in half a surrogate pair. */
export function firstChars(text: string, chars: number): string {
  if (text.length <= chars) return text
  return Array.from(text.slice(0, chars * 2))
    .slice(0, chars)
    .join('')
}

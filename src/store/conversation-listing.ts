import { ownersOf } from './job-listing.ts'
import type {
  ConversationListQuery,
  ConversationPage,
  ConversationPosition,
  ConversationSummary,
} from './listing.ts'
import { chunks, type ListingDialect, type RunStatement, Statement } from './listing-sql.ts'

/*
 * GET /conversations on both stores, most recently active first: by `last_message_at`, when
 * the conversation's latest message was accepted, kept by the accept's own upsert of the
 * conversation row (no write of its own). One index, conversations_owner_active (owner,
 * last_message_at, id) (migration "listing"), gives each owner's part of a page as one range
 * read; an admin key's page merges every owner's, as GET /jobs does. A conversation is listed
 * as long as the relay keeps its row, also after its history was forgotten: its counters stay.
 */

const OWNERS_PER_STATEMENT = 100

/**
 * One owner's part of the order (last_message_at, owner, id) newest first, after `after`: with the
 * owner fixed, the row comparison on three columns becomes one on two, or on the time alone.
 */
function ownerPart(
  s: Statement,
  owner: string,
  after: ConversationPosition | undefined,
  limit: number,
): string {
  const where = [`owner = ${s.param(owner)}`]
  if (after) {
    const at = s.param(after.lastMessageAt)
    if (owner === after.owner) where.push(`(last_message_at, id) < (${at}, ${s.param(after.id)})`)
    else where.push(owner < after.owner ? `last_message_at <= ${at}` : `last_message_at < ${at}`)
  }
  return `SELECT owner, id, last_sequence, last_message_at, open_jobs FROM conversations
    WHERE ${where.join(' AND ')} ORDER BY last_message_at DESC, id DESC LIMIT ${s.param(limit)}`
}

/** The next `limit` conversations of these owners, in one statement. */
export function conversationPageStatement(
  dialect: ListingDialect,
  owners: readonly string[],
  after: ConversationPosition | undefined,
  limit: number,
): Statement {
  const s = new Statement(dialect)
  const parts = owners.map((owner, i) => `SELECT * FROM (${ownerPart(s, owner, after, limit)}) AS o${i}`)
  // Owners in code point order, as ownerPart compares them; ids in each owner's own order.
  s.sql = `SELECT * FROM (${parts.join(' UNION ALL ')}) AS page
    ORDER BY last_message_at DESC, ${dialect.binary('owner')} DESC, id DESC LIMIT ${s.param(limit)}`
  return s
}

function summaryOf(row: Record<string, unknown>): ConversationSummary {
  const position: ConversationPosition = {
    lastMessageAt: Number(row.last_message_at),
    owner: String(row.owner),
    id: String(row.id),
  }
  return {
    owner: position.owner,
    id: position.id,
    messages: Number(row.last_sequence),
    lastMessageAt: position.lastMessageAt,
    openJobs: Number(row.open_jobs),
    position,
  }
}

/**
 * Newest first, owners in code point order; rows of one owner keep the order the database
 * gave them (its collation orders ids, within an owner, in the index and the cursor alike).
 */
function newer(a: ConversationPosition, b: ConversationPosition): number {
  if (a.lastMessageAt !== b.lastMessageAt) return b.lastMessageAt - a.lastMessageAt
  return a.owner === b.owner ? 0 : a.owner < b.owner ? 1 : -1
}

/** `Store.listConversations` for an adapter that runs the statements. */
export async function readConversationPage(
  run: RunStatement,
  dialect: ListingDialect,
  query: ConversationListQuery,
): Promise<ConversationPage> {
  const owners = await ownersOf(run, dialect, query.owner)
  const parts = await Promise.all(
    chunks(owners, OWNERS_PER_STATEMENT).map((part) =>
      run(conversationPageStatement(dialect, part, query.after, query.limit + 1)),
    ),
  )
  const rows = parts
    .flat()
    .map(summaryOf)
    .sort((a, b) => newer(a.position, b.position))
  const conversations = rows.slice(0, query.limit)
  const next = rows.length > query.limit ? (conversations.at(-1)?.position ?? null) : null
  return { conversations, next }
}

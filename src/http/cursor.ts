import type { ConversationPosition, JobPosition } from '../store/listing.ts'
import { invalidInput } from './problem.ts'

/*
 * `next_cursor`: a listing position as base64url JSON, tagged with its listing so a cursor of
 * one cannot be read as the other's. Opaque to clients; nothing in it is secret (it names a
 * time, a row number, and for conversations an owner and id the caller may see).
 */

const encode = (value: unknown[]): string => Buffer.from(JSON.stringify(value)).toString('base64url')

function decode(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
}

const invalid = () =>
  invalidInput('query', [
    {
      field: 'cursor',
      message: 'is not a cursor of this listing: pass the next_cursor of the previous page',
    },
  ])

const isPosition = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0
const isName = (s: unknown): s is string => typeof s === 'string' && s.length <= 256

export const jobCursor = (p: JobPosition): string => encode(['j', p.createdAt, p.seq])

export function jobPositionOf(cursor: string): JobPosition {
  const v = decode(cursor)
  if (!Array.isArray(v) || v.length !== 3 || v[0] !== 'j' || !isPosition(v[1]) || !isPosition(v[2]))
    throw invalid()
  return { createdAt: v[1], seq: v[2] }
}

export const conversationCursor = (p: ConversationPosition): string =>
  encode(['c', p.lastMessageAt, p.owner, p.id])

export function conversationPositionOf(cursor: string): ConversationPosition {
  const v = decode(cursor)
  if (
    !Array.isArray(v) ||
    v.length !== 4 ||
    v[0] !== 'c' ||
    !isPosition(v[1]) ||
    !isName(v[2]) ||
    !isName(v[3])
  )
    throw invalid()
  return { lastMessageAt: v[1], owner: v[2], id: v[3] }
}

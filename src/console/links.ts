import type { ConversationPosition, JobPosition } from '../store/listing.ts'

/** The console's addresses, made in one place so pages and redirects agree. */

const enc = encodeURIComponent

export const jobHref = (id: string): string => `/console/jobs/${enc(id)}`

/**
 * Conversations are per owner, so a viewer of every owner's (admin, open console) names the
 * owner in the link; '' (the keyless owner) needs no name.
 */
export function conversationHref(id: string, owner: string, named: boolean): string {
  return `/console/conversations/${enc(id)}${named && owner !== '' ? `?owner=${enc(owner)}` : ''}`
}

export function forgetAction(id: string, owner: string, named: boolean): string {
  return `/console/conversations/${enc(id)}/forget${named && owner !== '' ? `?owner=${enc(owner)}` : ''}`
}

/** A query string from fields, leaving out the empty ones. */
export function queryOf(fields: Record<string, string | readonly string[] | undefined>): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(fields)) {
    for (const v of typeof value === 'string' ? [value] : (value ?? [])) if (v !== '') params.append(name, v)
  }
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}

// Page positions in console links: plain numbers for jobs, base64url JSON for conversations.
export const jobCursor = (p: JobPosition): string => `${p.createdAt}-${p.seq}`

export function jobPositionOf(cursor: string | null): JobPosition | undefined {
  const match = cursor ? /^(\d{1,16})-(\d{1,16})$/.exec(cursor) : null
  if (!match) return undefined
  const createdAt = Number(match[1])
  const seq = Number(match[2])
  return Number.isSafeInteger(createdAt) && Number.isSafeInteger(seq) ? { createdAt, seq } : undefined
}

export const conversationCursor = (p: ConversationPosition): string =>
  Buffer.from(JSON.stringify([p.lastMessageAt, p.owner, p.id])).toString('base64url')

export function conversationPositionOf(cursor: string | null): ConversationPosition | undefined {
  if (!cursor || cursor.length > 1024) return undefined
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (!Array.isArray(v) || v.length !== 3) return undefined
    const [lastMessageAt, owner, id] = v as unknown[]
    if (!Number.isSafeInteger(lastMessageAt) || typeof owner !== 'string' || typeof id !== 'string')
      return undefined
    return { lastMessageAt: lastMessageAt as number, owner, id }
  } catch {
    return undefined
  }
}

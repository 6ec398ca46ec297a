import { Elysia } from 'elysia'
import type { Store } from '../../store/store.ts'
import { conversationCursor, conversationPositionOf } from '../cursor.ts'
import { ConversationList, ConversationListQuery, LIST_LIMIT_DEFAULT } from '../listing-schemas.ts'
import { problems } from '../problem.ts'

export interface ConversationListingDeps {
  store: Store
  /** Whose conversations the request may see; undefined for every owner's. */
  visibleOwner: (request: Request) => string | undefined
}

export function conversationListingRoutes(deps: ConversationListingDeps) {
  return new Elysia({ name: 'conversation-listing' }).get(
    '/conversations',
    async ({ query, request }) => {
      const page = await deps.store.listConversations({
        owner: deps.visibleOwner(request),
        limit: query.limit ?? LIST_LIMIT_DEFAULT,
        ...(query.cursor === undefined ? {} : { after: conversationPositionOf(query.cursor) }),
      })
      return {
        data: page.conversations.map((c) => ({
          id: c.id,
          owner: c.owner,
          messages: c.messages,
          last_message_at: new Date(c.lastMessageAt).toISOString(),
          open_jobs: c.openJobs,
        })),
        next_cursor: page.next ? conversationCursor(page.next) : null,
      }
    },
    {
      query: ConversationListQuery,
      response: { 200: ConversationList, ...problems(422) },
      detail: {
        tags: ['Conversations'],
        summary: 'List conversations',
        description:
          'Most recently active (a message accepted) first, one page at a time: follow `next_cursor`. A conversation whose history was forgotten stays listed with its counters. A client key sees its own; an admin key, or a relay without API keys, every client’s.',
      },
    },
  )
}

import { Elysia, t } from 'elysia'
import type { Store } from '../../store/store.ts'
import { notFound, problems } from '../problem.ts'
import { CONVERSATION_ID_PATTERN, ConversationView } from '../schemas.ts'

export interface ConversationsDeps {
  store: Store
  owner: (request: Request) => string
}

const ConversationParams = t.Object({
  id: t.String({
    pattern: CONVERSATION_ID_PATTERN,
    'x-error': 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -',
    description: 'Conversation id.',
  }),
})

export function conversationRoutes(deps: ConversationsDeps) {
  return new Elysia({ name: 'conversations' })
    .get(
      '/conversations/:id',
      async ({ params, request }) => {
        const messages = await deps.store.readConversation(deps.owner(request), params.id)
        if (!messages) throw notFound(`No conversation ${params.id}.`)
        return {
          id: params.id,
          messages: messages.map((m) => ({
            role: m.role,
            content: m.content,
            job_id: m.jobId,
            created_at: new Date(m.createdAt).toISOString(),
          })),
        }
      },
      {
        params: ConversationParams,
        response: { 200: ConversationView, ...problems(404) },
        detail: {
          tags: ['Conversations'],
          summary: 'Read a conversation’s history',
          description: 'Oldest first.',
        },
      },
    )
    .delete(
      '/conversations/:id',
      async ({ params, request, status }) => {
        const found = await deps.store.deleteConversation(deps.owner(request), params.id)
        if (!found) throw notFound(`No conversation ${params.id}.`)
        return status(204, undefined)
      },
      {
        params: ConversationParams,
        response: { 204: t.Void({ description: 'Forgotten.' }), ...problems(404) },
        detail: {
          tags: ['Conversations'],
          summary: 'Forget a conversation',
          description:
            'Deletes its history. Messages still in line are answered as usual and start a new history.',
        },
      },
    )
}

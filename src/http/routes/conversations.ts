import { Elysia, type Static, t } from 'elysia'
import { parsedCall } from '../../answer/tool-rounds.ts'
import type { HistoryMessage, Store } from '../../store/store.ts'
import { notFound, problems } from '../problem.ts'
import { CONVERSATION_ID_PATTERN, ConversationView } from '../schemas.ts'

type MessageView = Static<typeof ConversationView>['messages'][number]

const iso = (ms: number): string => new Date(ms).toISOString()

/** History as the client reads it: an answer reached through tools after its rounds of calls and results. */
function messageViews(messages: readonly HistoryMessage[]): MessageView[] {
  return messages.flatMap((m): MessageView[] => {
    const rounds = (m.toolRounds ?? []).flatMap((round): MessageView[] => [
      {
        role: 'assistant',
        content: round.content,
        job_id: m.jobId,
        created_at: iso(round.calledAt),
        tool_calls: round.calls.map(parsedCall),
      },
      ...(round.results ?? []).map(
        (r): MessageView => ({
          role: 'tool',
          content: r.content,
          job_id: m.jobId,
          created_at: iso(round.answeredAt ?? round.calledAt),
          tool_call_id: r.tool_call_id,
        }),
      ),
    ])
    return [...rounds, { role: m.role, content: m.content, job_id: m.jobId, created_at: iso(m.createdAt) }]
  })
}

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
        return { id: params.id, messages: messageViews(messages) }
      },
      {
        params: ConversationParams,
        response: { 200: ConversationView, ...problems(404) },
        detail: {
          tags: ['Conversations'],
          summary: 'Read a conversation’s history',
          description:
            'Oldest first. The tool calls and results an answer was reached through come before it, as `assistant` messages with `tool_calls` and `tool` messages.',
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

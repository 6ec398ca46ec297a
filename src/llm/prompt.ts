import type { ChatMessage } from './llm.ts'

/** One turn of a conversation's history as the prompt needs it. */
export interface Turn {
  role: 'user' | 'assistant'
  content: string
}

/**
 * The messages of one LLM call: the system prompt (none when empty), the conversation's
 * history oldest first, then the message to answer.
 */
export function buildPrompt(systemPrompt: string, history: readonly Turn[], message: string): ChatMessage[] {
  const messages: ChatMessage[] = []
  if (systemPrompt !== '') messages.push({ role: 'system', content: systemPrompt })
  for (const turn of history) messages.push({ role: turn.role, content: turn.content })
  messages.push({ role: 'user', content: message })
  return messages
}

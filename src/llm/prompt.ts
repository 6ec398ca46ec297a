import { type CountedMessage, fitHistory } from './history-budget.ts'
import type { ChatMessage } from './llm.ts'
import { messageTokens, type TokenCounter } from './token-count.ts'

/** One turn of a conversation's history as the prompt needs it. */
export interface Turn {
  role: 'user' | 'assistant'
  content: string
  jobId?: string
  /** Counted as it joined history; absent, counted here. */
  tokens?: number
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

export interface PromptRequest {
  systemPrompt: string
  /** The newest HISTORY_MAX_MESSAGES, oldest first. */
  history: readonly Turn[]
  message: string
  /** Messages after the new one that always go (the correction of a rejected answer). */
  after?: readonly ChatMessage[]
}

export interface Prompt {
  messages: ChatMessage[]
  /** The whole prompt's tokens; undefined without a token limit. */
  tokens: number | undefined
}

const textOf = (m: ChatMessage): string => m.content

/**
 * The prompt under HISTORY_MAX_TOKENS: the system prompt, the new message and what follows it
 * always go; of the history, the newest whole exchanges that fit (src/llm/history-budget.ts).
 * Without a counter (HISTORY_MAX_TOKENS=0) only the message limit the store applied holds.
 */
export function buildBudgetedPrompt(
  request: PromptRequest,
  budget: { maxTokens: number; counter: TokenCounter | undefined },
): Prompt {
  const after = request.after ?? []
  const { counter } = budget
  if (counter === undefined || budget.maxTokens === 0) {
    const messages = buildPrompt(request.systemPrompt, request.history, request.message)
    return { messages: [...messages, ...after], tokens: undefined }
  }
  const fixed =
    (request.systemPrompt === '' ? 0 : messageTokens(counter, request.systemPrompt)) +
    messageTokens(counter, request.message) +
    after.reduce((sum, m) => sum + messageTokens(counter, textOf(m)), 0)
  const counted: (Turn & CountedMessage)[] = request.history.map((turn, i) => ({
    ...turn,
    jobId: turn.jobId ?? `#${i}`,
    tokens: turn.tokens ?? messageTokens(counter, turn.content),
  }))
  const fitted = fitHistory(counted, { maxTokens: budget.maxTokens, fixedTokens: fixed })
  const messages = buildPrompt(request.systemPrompt, fitted.messages, request.message)
  return { messages: [...messages, ...after], tokens: fitted.promptTokens }
}

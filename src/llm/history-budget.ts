/**
 * Which history messages a prompt takes under HISTORY_MAX_TOKENS. Pure: every message comes
 * with its token count, counted once when it joined history and stored with it.
 */

export interface CountedMessage {
  role: string
  /** The job whose exchange the message belongs to: an exchange is kept or dropped whole. */
  jobId: string
  tokens: number
}

export interface HistoryBudget {
  /** The prompt's limit; 0: none. */
  maxTokens: number
  /** What the prompt takes whatever the history: the system prompt and the new message. */
  fixedTokens: number
}

export interface FittedHistory<T> {
  messages: T[]
  /** The whole prompt's tokens: the fixed part and the history kept. */
  promptTokens: number
}

/**
 * The newest whole exchanges that fit beside the fixed part, oldest first. A message is
 * never cut, nor an exchange split (a tool result without the call it answers is refused
 * by the API); the first exchange that does not fit ends the history, so what the model
 * sees has no gap. The fixed part always goes, even when it alone is over the limit.
 */
export function fitHistory<T extends CountedMessage>(
  history: readonly T[],
  budget: HistoryBudget,
): FittedHistory<T> {
  const unlimited = budget.maxTokens === 0
  let used = budget.fixedTokens
  let start = history.length
  while (start > 0) {
    const jobId = (history[start - 1] as T).jobId
    let first = start - 1
    while (first > 0 && (history[first - 1] as T).jobId === jobId) first--
    let tokens = 0
    for (let i = first; i < start; i++) tokens += (history[i] as T).tokens
    if (!unlimited && used + tokens > budget.maxTokens) break
    used += tokens
    start = first
  }
  // The store's message limit may have cut the oldest exchange: a tool result that lost
  // its call cannot open the prompt.
  while (start < history.length && (history[start] as T).role === 'tool') {
    used -= (history[start] as T).tokens
    start++
  }
  return { messages: history.slice(start), promptTokens: used }
}

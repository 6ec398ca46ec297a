import type { ToolRound } from '../answer/tool-rounds.ts'
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
  /** An answer reached through tools: the calls and results before it, which the model sees again. */
  toolRounds?: readonly ToolRound[]
}

/** Rounds of tool calls as the API takes them: each assistant turn of calls, then a tool message per result. */
export function toolRoundMessages(rounds: readonly ToolRound[]): ChatMessage[] {
  const messages: ChatMessage[] = []
  for (const round of rounds) {
    messages.push({ role: 'assistant', content: round.content, toolCalls: round.calls })
    for (const result of round.results ?? [])
      messages.push({ role: 'tool', toolCallId: result.tool_call_id, content: result.content })
  }
  return messages
}

/**
 * The messages of one LLM call: the system prompt (none when empty), the conversation's
 * history oldest first (an answer reached through tools after its rounds), then the message
 * to answer.
 */
export function buildPrompt(systemPrompt: string, history: readonly Turn[], message: string): ChatMessage[] {
  const messages: ChatMessage[] = []
  if (systemPrompt !== '') messages.push({ role: 'system', content: systemPrompt })
  for (const turn of history) {
    if (turn.toolRounds !== undefined) messages.push(...toolRoundMessages(turn.toolRounds))
    messages.push({ role: turn.role, content: turn.content })
  }
  messages.push({ role: 'user', content: message })
  return messages
}

/** What a message's tokens are counted from: its text, and the calls it makes. */
export function countedText(m: ChatMessage): string {
  if (m.role !== 'assistant' || m.toolCalls === undefined) return m.content
  return [m.content, ...m.toolCalls.map((c) => `${c.name}(${c.arguments})`)].join('\n')
}

/** The tokens of an answer's history row: the answer and the rounds before it, each message with its overhead. */
export function answerTokens(counter: TokenCounter, content: string, rounds: readonly ToolRound[]): number {
  return toolRoundMessages(rounds).reduce(
    (sum, m) => sum + messageTokens(counter, countedText(m)),
    messageTokens(counter, content),
  )
}

export interface PromptRequest {
  systemPrompt: string
  /** The newest HISTORY_MAX_MESSAGES, oldest first. */
  history: readonly Turn[]
  message: string
  /** Messages after the new one that always go (the job's tool rounds, the correction of a rejected answer). */
  after?: readonly ChatMessage[]
}

export interface Prompt {
  messages: ChatMessage[]
  /** The whole prompt's tokens; undefined without a token limit. */
  tokens: number | undefined
  /** The new message's tokens, its overhead included (its history row keeps them); undefined without a token limit. */
  messageTokens: number | undefined
}

/**
 * Token counts of the system prompts seen lately: the same few (the default, a client's, a
 * request's) come with job after job, and each would be counted again for every prompt.
 */
export class SystemPromptTokens {
  private readonly counts = new Map<string, number>()

  constructor(private readonly max = 32) {}

  of(counter: TokenCounter, text: string): number {
    const known = this.counts.get(text)
    if (known !== undefined) return known
    const tokens = messageTokens(counter, text)
    if (this.counts.size >= this.max) this.counts.clear()
    this.counts.set(text, tokens)
    return tokens
  }
}

/**
 * The prompt under HISTORY_MAX_TOKENS: the system prompt, the new message and what follows it
 * always go; of the history, the newest whole exchanges that fit (src/llm/history-budget.ts).
 * Without a counter (HISTORY_MAX_TOKENS=0) only the message limit the store applied holds.
 */
export function buildBudgetedPrompt(
  request: PromptRequest,
  budget: { maxTokens: number; counter: TokenCounter | undefined; systemPrompts?: SystemPromptTokens },
): Prompt {
  const after = request.after ?? []
  const { counter } = budget
  if (counter === undefined || budget.maxTokens === 0) {
    const messages = buildPrompt(request.systemPrompt, request.history, request.message)
    return { messages: [...messages, ...after], tokens: undefined, messageTokens: undefined }
  }
  const { systemPrompt } = request
  const system =
    systemPrompt === ''
      ? 0
      : (budget.systemPrompts?.of(counter, systemPrompt) ?? messageTokens(counter, systemPrompt))
  const message = messageTokens(counter, request.message)
  const fixed = system + message + after.reduce((sum, m) => sum + messageTokens(counter, countedText(m)), 0)
  const counted: (Turn & CountedMessage)[] = request.history.map((turn, i) => ({
    ...turn,
    jobId: turn.jobId ?? `#${i}`,
    tokens: turn.tokens ?? answerTokens(counter, turn.content, turn.toolRounds ?? []),
  }))
  const fitted = fitHistory(counted, { maxTokens: budget.maxTokens, fixedTokens: fixed })
  const messages = buildPrompt(request.systemPrompt, fitted.messages, request.message)
  return { messages: [...messages, ...after], tokens: fitted.promptTokens, messageTokens: message }
}

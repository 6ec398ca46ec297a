/**
 * Counts tokens the way the budget for history needs them: with a real BPE tokenizer
 * (cl100k_base, whose tables ship inside the `gpt-tokenizer` package, so it works offline).
 * No one tokenizer fits every model behind a router; cl100k counts a little more than the
 * newer o200k for most text, which errs on the side of a prompt that fits, and loads in
 * about a third of the time and memory.
 */

/** What a chat message costs beyond its text (role and separators; OpenAI's cookbook says 3-4). */
export const MESSAGE_OVERHEAD_TOKENS = 4

export interface TokenCounter {
  /** Tokens of `text` alone. */
  count(text: string): number
}

/** Tokens of one chat message: its text plus the per-message overhead. */
export function messageTokens(counter: TokenCounter, text: string): number {
  return counter.count(text) + MESSAGE_OVERHEAD_TOKENS
}

/**
 * Loads the tokenizer's tables (about 130 ms and 60 MB the first time): at start, so no
 * job waits for it, and not at all when HISTORY_MAX_TOKENS is 0.
 */
export async function loadTokenCounter(): Promise<TokenCounter> {
  const { countTokens } = await import('gpt-tokenizer/encoding/cl100k_base')
  // Text that spells a special token (`<|endoftext|>`) is counted as text, never refused.
  const asText = { disallowedSpecial: new Set<string>() }
  return { count: (text) => countTokens(text, asText) }
}

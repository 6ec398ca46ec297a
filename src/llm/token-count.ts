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
  /** Resolves once `count` can be called (a counter that loads its tables on first use). */
  ready?(): Promise<void>
}

/** Tokens of one chat message: its text plus the per-message overhead. */
export function messageTokens(counter: TokenCounter, text: string): number {
  return counter.count(text) + MESSAGE_OVERHEAD_TOKENS
}

/**
 * Loads the tokenizer's tables (130 – 170 ms and about 35 MB, measured); not at all when
 * HISTORY_MAX_TOKENS is 0.
 */
export async function loadTokenCounter(): Promise<TokenCounter> {
  const [{ GptEncoding }, { cl100kRanks }] = await Promise.all([
    import('gpt-tokenizer/GptEncoding'),
    import('./cl100k-ranks.ts'),
  ])
  const { countTokens } = GptEncoding.getEncodingApi('cl100k_base', cl100kRanks)
  // Text that spells a special token (`<|endoftext|>`) is counted as text, never refused.
  const asText = { disallowedSpecial: new Set<string>() }
  return { count: (text) => countTokens(text, asText) }
}

/**
 * A counter whose tables load on the first `ready()` (the first prompt this process builds),
 * not at start: the relay listens within milliseconds, and a process that never answers a
 * message never pays the 35 MB. The first job waits for the load once (about 110 ms of CPU).
 * `count` before `ready()` has resolved is a bug of the caller's, and throws.
 */
export function lazyTokenCounter(load: () => Promise<TokenCounter> = loadTokenCounter): TokenCounter {
  let loaded: TokenCounter | undefined
  let loading: Promise<void> | undefined
  return {
    count(text) {
      if (loaded === undefined) throw new Error('the tokenizer is not loaded yet: await ready() first')
      return loaded.count(text)
    },
    ready() {
      loading ??= load().then(
        (counter) => {
          loaded = counter
        },
        (error: unknown) => {
          // The next job tries again.
          loading = undefined
          throw error
        },
      )
      return loading
    },
  }
}

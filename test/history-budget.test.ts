import { describe, expect, test } from 'bun:test'
import { fitHistory } from '../src/llm/history-budget.ts'
import { buildBudgetedPrompt, SystemPromptTokens } from '../src/llm/prompt.ts'
import {
  lazyTokenCounter,
  loadTokenCounter,
  MESSAGE_OVERHEAD_TOKENS,
  messageTokens,
} from '../src/llm/token-count.ts'

const exchange = (jobId: string, user: number, assistant: number) => [
  { role: 'user', jobId, tokens: user },
  { role: 'assistant', jobId, tokens: assistant },
]

describe('fitHistory', () => {
  const history = [...exchange('j1', 100, 100), ...exchange('j2', 50, 50), ...exchange('j3', 10, 20)]

  test('everything fits: everything goes, and the prompt counts it all', () => {
    const fitted = fitHistory(history, { maxTokens: 1000, fixedTokens: 30 })
    expect(fitted.messages).toEqual(history)
    expect(fitted.promptTokens).toBe(30 + 330)
  })

  test('the newest exchanges that fit go; the oldest is dropped whole', () => {
    const fitted = fitHistory(history, { maxTokens: 200, fixedTokens: 30 })
    expect(fitted.messages.map((m) => m.jobId)).toEqual(['j2', 'j2', 'j3', 'j3'])
    expect(fitted.promptTokens).toBe(30 + 130)
  })

  test('exactly at the limit still fits', () => {
    expect(fitHistory(history, { maxTokens: 160, fixedTokens: 30 }).messages).toHaveLength(4)
    expect(fitHistory(history, { maxTokens: 159, fixedTokens: 30 }).messages).toHaveLength(2)
  })

  test('no message is cut: an exchange one token too large is left out, and so is all before it', () => {
    const withBig = [...exchange('small-old', 1, 1), ...exchange('big', 500, 500), ...exchange('new', 5, 5)]
    const fitted = fitHistory(withBig, { maxTokens: 100, fixedTokens: 10 })
    // `small-old` would fit, but a gap would show the model a history that never happened.
    expect(fitted.messages.map((m) => m.jobId)).toEqual(['new', 'new'])
  })

  test('the fixed part always goes, even alone over the limit', () => {
    const fitted = fitHistory(history, { maxTokens: 100, fixedTokens: 5000 })
    expect(fitted.messages).toEqual([])
    expect(fitted.promptTokens).toBe(5000)
  })

  test('0 is no limit', () => {
    expect(fitHistory(history, { maxTokens: 0, fixedTokens: 1_000_000 }).messages).toEqual(history)
  })

  test('a tool exchange stays whole, and tool results cut from their call never open the prompt', () => {
    const tools = [
      { role: 'user', jobId: 't', tokens: 10 },
      { role: 'assistant', jobId: 't', tokens: 10 },
      { role: 'tool', jobId: 't', tokens: 10 },
      { role: 'assistant', jobId: 't', tokens: 10 },
    ]
    expect(fitHistory(tools, { maxTokens: 39, fixedTokens: 0 }).messages).toEqual([])
    expect(fitHistory(tools, { maxTokens: 40, fixedTokens: 0 }).messages).toEqual(tools)
    // As the store's HISTORY_MAX_MESSAGES may hand it over: the call already cut off.
    const cut = fitHistory(tools.slice(2), { maxTokens: 0, fixedTokens: 0 })
    expect(cut.messages.map((m) => m.role)).toEqual(['assistant'])
    expect(cut.promptTokens).toBe(10)
  })

  test('an empty history is the fixed part', () => {
    expect(fitHistory([], { maxTokens: 10, fixedTokens: 3 })).toEqual({ messages: [], promptTokens: 3 })
  })
})

describe('the tokenizer', () => {
  test('counts with cl100k_base, offline, and adds the per-message overhead', async () => {
    const counter = await loadTokenCounter()
    expect(counter.count('hello world')).toBe(2)
    expect(counter.count('')).toBe(0)
    expect(messageTokens(counter, 'hello world')).toBe(2 + MESSAGE_OVERHEAD_TOKENS)
    // More tokens for more text, and non-Latin text costs more per character.
    expect(counter.count('こんにちは世界')).toBeGreaterThan(counter.count('hello'))
  })

  test("its ranks, read from the .tiktoken file, are the package's own, and count as the package does", async () => {
    const { cl100kRanks } = await import('../src/llm/cl100k-ranks.ts')
    const own = (await import('gpt-tokenizer/bpeRanks/cl100k_base')).default as (string | number[])[]
    const ranks = cl100kRanks()
    expect(ranks.length).toBe(own.length)
    const differing = own.filter((token, i) => JSON.stringify(token) !== JSON.stringify(ranks[i]))
    expect(differing).toEqual([])
    const packaged = await import('gpt-tokenizer/encoding/cl100k_base')
    const counter = await loadTokenCounter()
    for (const text of [
      '\uFEFFusing namespace std;',
      'Grüße, 世界 😀',
      'a\u0000b\x07c',
      ' merciless daycare',
    ])
      expect(counter.count(text)).toBe(packaged.countTokens(text))
  })

  test('a lazy counter loads its tables once, on the first ready(), and again after a failed load', async () => {
    let loads = 0
    let failNext = true
    const counter = lazyTokenCounter(async () => {
      loads++
      if (failNext) {
        failNext = false
        throw new Error('no tables')
      }
      return loadTokenCounter()
    })
    expect(loads).toBe(0)
    expect(() => counter.count('hello')).toThrow(/not loaded yet/)
    await expect(counter.ready?.()).rejects.toThrow('no tables')
    await Promise.all([counter.ready?.(), counter.ready?.()])
    expect(loads).toBe(2)
    expect(counter.count('hello world')).toBe(2)
  })

  test('text that spells a special token is counted as text, not refused', async () => {
    const counter = await loadTokenCounter()
    expect(counter.count('a <|endoftext|> b')).toBeGreaterThan(3)
  })
})

describe('the prompt under a token limit', () => {
  /** A counter of one token a word that tells how often it was asked. */
  const countingCounter = () => {
    const asked: string[] = []
    const counter = {
      count(text: string) {
        asked.push(text)
        return text.split(' ').filter(Boolean).length
      },
    }
    return { counter, asked }
  }

  test('says what the new message counts, the overhead included, for its history row', () => {
    const { counter } = countingCounter()
    const prompt = buildBudgetedPrompt(
      { systemPrompt: 'be brief', history: [], message: 'three words here' },
      { maxTokens: 1000, counter },
    )
    expect(prompt.messageTokens).toBe(3 + MESSAGE_OVERHEAD_TOKENS)
    expect(prompt.tokens).toBe(2 + 3 + 2 * MESSAGE_OVERHEAD_TOKENS)
    expect(
      buildBudgetedPrompt({ systemPrompt: '', history: [], message: 'x' }, { maxTokens: 0, counter }),
    ).toMatchObject({ tokens: undefined, messageTokens: undefined })
  })

  test('counts a system prompt once for the prompts that share it, and each different one once', () => {
    const { counter, asked } = countingCounter()
    const systemPrompts = new SystemPromptTokens(2)
    const build = (systemPrompt: string) =>
      buildBudgetedPrompt(
        { systemPrompt, history: [], message: 'hi' },
        { maxTokens: 1000, counter, systemPrompts },
      )
    const first = build('the default prompt')
    const again = build('the default prompt')
    expect(again.tokens).toBe(first.tokens)
    build('a client prompt')
    expect(asked.filter((t) => t === 'the default prompt')).toHaveLength(1)
    expect(asked.filter((t) => t === 'a client prompt')).toHaveLength(1)
    // Past its size it starts over: a third prompt is counted, the first again after it.
    build('a third prompt')
    build('the default prompt')
    expect(asked.filter((t) => t === 'the default prompt')).toHaveLength(2)
    expect(build('a third prompt').tokens).toBe(3 + 1 + 2 * MESSAGE_OVERHEAD_TOKENS)
  })
})

import { systemClock } from '../../src/clock.ts'
import { type OpenAiClientOptions, OpenAiLlmClient } from '../../src/llm/openai-client.ts'

/** The relay's LLM client as the tests build it: a test key, 5 s, no fallbacks, no scrubbing; `options` on top. */
export const testLlmClient = (baseUrl: string, options: Partial<OpenAiClientOptions> = {}) =>
  new OpenAiLlmClient({
    baseUrl,
    apiKey: 'sk-test',
    timeoutMs: 5000,
    fallbackModels: [],
    appUrl: 'https://example.com',
    appName: 'tests',
    userAgent: 'tests',
    clock: systemClock,
    scrub: (text) => text,
    usageAccounting: false,
    ...options,
  })

import OpenAI from 'openai'
import type { Clock } from '../clock.ts'
import { completionBody, readCompletion } from './chat-completion.ts'
import { classifyErrorInBody, classifyLlmError, type Scrub } from './classify.ts'
import { preferHttp2 } from './http2-fetch.ts'
import type { LlmClient, LlmRequest, LlmResult } from './llm.ts'

export interface OpenAiClientOptions {
  baseUrl: string
  apiKey: string | undefined
  timeoutMs: number
  fallbackModels: readonly string[]
  appUrl: string
  appName: string
  userAgent: string
  clock: Clock
  /** Takes secrets out of the API's error texts before they become a job's error. */
  scrub: Scrub
  /** Ask for `usage.cost`: OpenRouter only (other APIs refuse the field). */
  usageAccounting: boolean
  /** LLM_HTTP2: every call over one HTTP/2 connection when the API speaks it (http2-fetch.ts). */
  http2?: boolean
  /** The fetch the calls go through (a test's, trusting its own certificate); Bun's by default. */
  fetch?: typeof fetch
}

/** The adapter on the official `openai` SDK; it works with any OpenAI-compatible API. */
export class OpenAiLlmClient implements LlmClient {
  private readonly client: OpenAI | undefined

  constructor(private readonly options: OpenAiClientOptions) {
    this.client =
      options.apiKey === undefined
        ? undefined
        : new OpenAI({
            baseURL: options.baseUrl,
            apiKey: options.apiKey,
            timeout: options.timeoutMs,
            // Retries belong to the job (durable, scheduled), not to one in-memory call.
            maxRetries: 0,
            fetch: options.http2 ? preferHttp2(options.fetch) : options.fetch,
            defaultHeaders: {
              // OpenRouter's app attribution: https://openrouter.ai/docs/app-attribution
              'HTTP-Referer': options.appUrl,
              'X-Title': options.appName,
              'User-Agent': options.userAgent,
            },
          })
  }

  async complete(request: LlmRequest): Promise<LlmResult> {
    if (this.client === undefined) {
      return {
        ok: false,
        failure: {
          code: 'llm_auth',
          retryable: false,
          message: 'No LLM API key is configured: set LLM_API_KEY (or OPENROUTER_API_KEY).',
        },
      }
    }
    const body = completionBody(request, {
      fallbackModels: this.options.fallbackModels,
      usageAccounting: this.options.usageAccounting,
    })
    let completion: OpenAI.Chat.ChatCompletion & { error?: unknown }
    try {
      const { signal, headers } = request
      completion = await this.client.chat.completions.create(
        body,
        // Per-request options only where there are any: the trace context, the abort of a cancel.
        signal === undefined && headers === undefined
          ? undefined
          : { ...(signal && { signal }), ...(headers && { headers }) },
      )
    } catch (error) {
      return { ok: false, failure: classifyLlmError(error, this.options.clock.now(), this.options.scrub) }
    }
    const inBody = classifyErrorInBody(completion, this.options.scrub)
    if (inBody) return { ok: false, failure: inBody }
    return readCompletion(completion, request.model)
  }
}

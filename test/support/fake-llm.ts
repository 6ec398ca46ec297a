import { Signal } from './signal.ts'

export interface ToolCall {
  id: string
  type: 'function'
  function: { name: string; arguments: string }
}

export interface ChatMessage {
  role: string
  /**
   * Null on an assistant message that only calls tools; typed as text because that is what
   * every other message carries and what tests read.
   */
  content: string
  tool_calls?: ToolCall[]
  tool_call_id?: string
}

/** Every request body is kept as sent, so a test can check each parameter reached the LLM unchanged. */
export interface LlmCall {
  body: {
    model: string
    messages: ChatMessage[]
    models?: string[]
    response_format?: { type: string; json_schema?: unknown }
    tools?: unknown[]
    reasoning?: unknown
    usage?: { include?: boolean }
    [key: string]: unknown
  }
  headers: Headers
}

/** What the fake answers one call with; undefined falls through to the default echo answer. */
export type Behaviour = (call: LlmCall) => Response | undefined | Promise<Response | undefined>

export interface CompletionExtra {
  /** OpenRouter's `message.reasoning`: the model's thinking, beside the answer. */
  reasoning?: string
  /** OpenRouter's usage accounting (`usage.cost`, in credits). */
  cost?: number
  toolCalls?: ToolCall[]
  finishReason?: string
}

export function completion(
  content: string | null,
  model = 'fake/model',
  extra: CompletionExtra = {},
): Response {
  const message: Record<string, unknown> = { role: 'assistant', content }
  if (extra.reasoning !== undefined) message.reasoning = extra.reasoning
  if (extra.toolCalls !== undefined) message.tool_calls = extra.toolCalls
  const usage: Record<string, unknown> = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
  if (extra.cost !== undefined) usage.cost = extra.cost
  return Response.json({
    id: `chatcmpl-${crypto.randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message,
        finish_reason: extra.finishReason ?? (extra.toolCalls ? 'tool_calls' : 'stop'),
      },
    ],
    usage,
  })
}

/** An answer that is `value` as JSON text (what a model asked for `response_format` JSON gives). */
export function jsonAnswer(value: unknown, model = 'fake/model'): Behaviour {
  return (call) => completion(JSON.stringify(value), call.body.model ?? model, extrasFor(call))
}

/** An answer that calls tools: each `arguments` is sent as the JSON text the API uses. */
export function toolCallsAnswer(calls: { id?: string; name: string; arguments: unknown }[]): Behaviour {
  return (call) =>
    completion(null, call.body.model, {
      ...extrasFor(call),
      toolCalls: calls.map((c, i) => ({
        id: c.id ?? `call_${i + 1}`,
        type: 'function',
        function: {
          name: c.name,
          arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
        },
      })),
    })
}

export const FAKE_COST = 0.000042

/** What the fake adds because the request asked: reasoning for `reasoning`, a cost for `usage.include`. */
function extrasFor(call: LlmCall): CompletionExtra {
  const extra: CompletionExtra = {}
  if (call.body.reasoning !== undefined) extra.reasoning = 'thinking it over'
  if (call.body.usage?.include === true) extra.cost = FAKE_COST
  return extra
}

export function apiError(status: number, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: { message, code: status } }, { status, headers })
}

/**
 * The default answer: echoes the last user message so tests can tell answers apart; as a
 * JSON object `{"echo": …}` when the request asks for `json_object`.
 */
export function echoAnswer(call: LlmCall): Response {
  const last = call.body.messages.findLast((m) => m.role === 'user')
  const text = `echo: ${last?.content ?? ''}`
  const content = call.body.response_format?.type === 'json_object' ? JSON.stringify({ echo: text }) : text
  return completion(content, call.body.model, extrasFor(call))
}

/**
 * An OpenAI-compatible chat completions server on 127.0.0.1 that records every call.
 * Behaviours queued with `next()` answer the next calls in order; then the echo answer.
 */
export class FakeLlm {
  readonly calls: LlmCall[] = []
  /** Calls whose client went away before they were answered (the relay aborted them). */
  readonly aborted: LlmCall[] = []
  readonly signal = new Signal()
  latencyMs = 0
  /** Calls being answered now, and the most there ever were at once. */
  inFlight = 0
  maxInFlight = 0
  private readonly queue: Behaviour[] = []
  private readonly server: ReturnType<typeof Bun.serve>

  constructor() {
    this.server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: async (request) => {
        const path = new URL(request.url).pathname
        if (request.method !== 'POST' || path !== '/v1/chat/completions')
          return apiError(404, `no route ${request.method} ${path}`)
        const call: LlmCall = { body: (await request.json()) as LlmCall['body'], headers: request.headers }
        this.calls.push(call)
        request.signal.addEventListener('abort', () => {
          this.aborted.push(call)
          this.signal.changed()
        })
        this.signal.changed()
        const behaviour = this.queue.shift()
        this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight)
        try {
          if (this.latencyMs > 0) await Bun.sleep(this.latencyMs)
          return (await behaviour?.(call)) ?? echoAnswer(call)
        } finally {
          this.inFlight--
        }
      },
    })
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}/v1`
  }

  next(...behaviours: Behaviour[]): this {
    this.queue.push(...behaviours)
    return this
  }

  /** Holds the next call open until `release` is called, then answers it with `then`. */
  hold(then: Behaviour = echoAnswer): { release: () => void; received: Promise<void> } {
    let release = () => {}
    let received = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const arrived = new Promise<void>((resolve) => {
      received = resolve
    })
    this.next(async (call) => {
      received()
      await gate
      return then(call)
    })
    return { release, received: arrived }
  }

  async waitForAbort(call: LlmCall, timeoutMs?: number): Promise<void> {
    await this.signal.until(() => this.aborted.includes(call), 'the LLM call to be aborted', timeoutMs)
  }

  async waitForCalls(count: number, timeoutMs?: number): Promise<LlmCall[]> {
    return this.signal.until(
      () => this.calls.length >= count && this.calls,
      `${count} LLM calls (have ${this.calls.length})`,
      timeoutMs,
    )
  }

  stop(): void {
    this.server.stop(true)
  }
}

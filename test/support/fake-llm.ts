import { Signal } from './signal.ts'

export interface ChatMessage {
  role: string
  content: string
}

export interface LlmCall {
  body: { model: string; messages: ChatMessage[]; models?: string[]; [key: string]: unknown }
  headers: Headers
}

/** What the fake answers one call with; undefined falls through to the default echo answer. */
export type Behaviour = (call: LlmCall) => Response | undefined | Promise<Response | undefined>

export function completion(content: string, model = 'fake/model'): Response {
  return Response.json({
    id: `chatcmpl-${crypto.randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  })
}

export function apiError(status: number, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: { message, code: status } }, { status, headers })
}

/** The default answer: echoes the last user message so tests can tell answers apart. */
export function echoAnswer(call: LlmCall): Response {
  const last = call.body.messages.at(-1)
  return completion(`echo: ${last?.content ?? ''}`, call.body.model)
}

/**
 * An OpenAI-compatible chat completions server on 127.0.0.1 that records every call.
 * Behaviours queued with `next()` answer the next calls in order; then the echo answer.
 */
export class FakeLlm {
  readonly calls: LlmCall[] = []
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

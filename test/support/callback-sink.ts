import type { JobToolCalls, ResultPayload } from '../../src/contract/callback-payload.ts'
import { Signal } from './signal.ts'

export interface Received {
  path: string
  headers: Headers
  raw: string
  /**
   * Typed as the relay's own payload of a job's result; the tool tests read a `job.tool_calls`
   * event through `toolCallsOf`, the signature tests the raw bytes.
   */
  body: ResultPayload
}

/**
 * A callback receiver on 127.0.0.1 that records every POST. `respond()` queues the statuses
 * of the next requests (then 200); `fail()` makes every request fail until `recover()`;
 * `latencyMs` delays every answer, `hold()` every answer until released.
 */
export class CallbackSink {
  readonly received: Received[] = []
  readonly signal = new Signal()
  /** How long each answer takes, after the request is recorded. */
  latencyMs = 0
  private readonly statuses: number[] = []
  private failAll: number | undefined
  private gate: Promise<void> | undefined
  private readonly server: ReturnType<typeof Bun.serve>

  constructor() {
    this.server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: async (request) => {
        const raw = await request.text()
        const path = new URL(request.url).pathname
        this.received.push({ path, headers: request.headers, raw, body: JSON.parse(raw) as Received['body'] })
        this.signal.changed()
        await this.gate
        if (this.latencyMs > 0) await Bun.sleep(this.latencyMs)
        const status = this.statuses.shift() ?? this.failAll ?? 200
        if (status >= 300 && status < 400)
          return new Response(null, { status, headers: { location: `${this.url}/redirected` } })
        return new Response(status < 300 ? 'ok' : 'nope', { status })
      },
    })
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`
  }

  respond(...statuses: number[]): this {
    this.statuses.push(...statuses)
    return this
  }

  /** Leaves every request unanswered (each still recorded as it arrives) until `release` is called. */
  hold(): { release: () => void } {
    let release = () => {}
    this.gate = new Promise<void>((resolve) => {
      release = () => {
        this.gate = undefined
        resolve()
      }
    })
    return { release }
  }

  /** Every request fails with `status` until `recover()`. */
  fail(status = 500): this {
    this.failAll = status
    return this
  }

  recover(): this {
    this.failAll = undefined
    return this
  }

  forJob(id: string): Received[] {
    return this.received.filter((r) => r.body.data.id === id)
  }

  /** The `job.tool_calls` events received for a job, each with its body as that event. */
  toolCallsFor(id: string): (Received & { event: JobToolCalls })[] {
    return this.forJob(id)
      .filter((r) => (r.body.type as string) === 'job.tool_calls')
      .map((r) => ({ ...r, event: r.body as unknown as JobToolCalls }))
  }

  /** The job's events of `type`, once there are `count` of them. */
  async waitForEvents(id: string, type: string, count = 1, timeoutMs?: number): Promise<Received[]> {
    return this.signal.until(
      () => {
        const got = this.forJob(id).filter((r) => (r.body.type as string) === type)
        return got.length >= count && got
      },
      `${count} ${type} callbacks for job ${id}`,
      timeoutMs,
    )
  }

  async waitFor(count: number, timeoutMs?: number): Promise<Received[]> {
    return this.signal.until(
      () => this.received.length >= count && this.received,
      `${count} callbacks (have ${this.received.length})`,
      timeoutMs,
    )
  }

  async waitForJob(id: string, count = 1, timeoutMs?: number): Promise<Received[]> {
    return this.signal.until(
      () => {
        const got = this.forJob(id)
        return got.length >= count && got
      },
      `${count} callbacks for job ${id}`,
      timeoutMs,
    )
  }

  stop(): void {
    this.server.stop(true)
  }
}

import type { Clock } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { DeliveryResult } from './deliverer.ts'

/**
 * What the operator hears at OPERATOR_WEBHOOK_URL: Standard Webhooks envelopes, signed with
 * CALLBACK_SECRET, sent through the same address guard as callbacks. Retried on a schedule of
 * their own in this process's memory: an event still unsent when the process stops is lost
 * (the state it reports is in GET /callback-origins and GET /jobs either way).
 */

export type OperatorEventType = 'endpoint.failing' | 'endpoint.recovered' | 'job.dead'

export interface OperatorEventsOptions {
  url: string
  /** A signed POST through the guard (HttpDeliverer.send). */
  send: (url: string, id: string, body: string, secrets: readonly string[]) => Promise<DeliveryResult>
  secret: string | undefined
  clock: Clock
  logger: Logger
  newId: () => string
  /** The waits between attempts; after the last the event is dropped (and logged). */
  schedule?: readonly number[]
}

const SCHEDULE = [1000, 10_000, 60_000, 300_000, 1_800_000]

export class OperatorEvents {
  private readonly pending = new Set<{ cancel(): void }>()
  private closed = false

  constructor(private readonly o: OperatorEventsOptions) {}

  /** Sends at once and retries in the background; never throws. */
  emit(type: OperatorEventType, data: Record<string, unknown>): void {
    if (this.closed) return
    const id = `evt_${this.o.newId()}`
    const body = JSON.stringify({ type, timestamp: new Date(this.o.clock.now()).toISOString(), data })
    void this.attempt(type, id, body, 0)
  }

  private async attempt(type: OperatorEventType, id: string, body: string, failures: number): Promise<void> {
    const secrets = this.o.secret ? [this.o.secret] : []
    const result = await this.o.send(this.o.url, id, body, secrets).catch(
      (error: unknown): DeliveryResult => ({
        ok: false,
        statusCode: null,
        error: { code: 'callback_connection', message: String(error) },
        durationMs: 0,
        retryable: true,
      }),
    )
    if (result.ok || this.closed) return
    const wait = result.retryable ? (this.o.schedule ?? SCHEDULE)[failures] : undefined
    const log = { event: type, event_id: id, code: result.error?.code, status_code: result.statusCode }
    if (wait === undefined) {
      this.o.logger.warn(log, `operator event dropped: ${result.error?.message ?? ''}`)
      return
    }
    this.o.logger.info({ ...log, retry_in_ms: wait }, 'operator event failed; tried again')
    const timer = this.o.clock.setTimeout(() => {
      this.pending.delete(timer)
      void this.attempt(type, id, body, failures + 1)
    }, wait)
    this.pending.add(timer)
  }

  /** Stops retrying (shutdown). */
  close(): void {
    this.closed = true
    for (const timer of this.pending) timer.cancel()
    this.pending.clear()
  }
}

import type { Clock } from '../clock.ts'
import type { DataEncryption } from '../data-encryption.ts'
import { callbackHeadersContext } from '../intake/callback-headers.ts'
import type { JobError } from '../job.ts'
import type { Job } from '../store/store.ts'
import { type AddressGuard, parseHostLiteral } from './address-guard.ts'
import type { Deliverer, DeliveryResult } from './deliverer.ts'
import { callbackPayload, webhookIdOf } from './payload.ts'
import { fetchPinned, PinnedAgents } from './pinned-fetch.ts'
import { signWebhookWithEach } from './signature.ts'
import type { SigningSecrets } from './signing-secrets.ts'

export interface HttpDelivererOptions {
  guard: AddressGuard
  /** Opens the callback headers a job carries. */
  encryption: DataEncryption
  /** Per job, read at each attempt: the client's own secret (two during a rotation), or CALLBACK_SECRET. */
  secrets: SigningSecrets
  timeoutMs: number
  userAgent: string
  clock: Clock
  /** Connections kept open per receiver between callbacks: CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN. */
  idleConnectionsPerOrigin?: number
}

/**
 * POSTs the signed callback to the address the guard checked (no second lookup); redirects
 * are answers, never followed.
 */
export class HttpDeliverer implements Deliverer {
  /** Connections to callback receivers named by host name, kept alive per checked address. */
  private readonly agents: PinnedAgents

  constructor(private readonly options: HttpDelivererOptions) {
    this.agents = new PinnedAgents({ idle: options.idleConnectionsPerOrigin })
  }

  close(): void {
    this.agents.close()
  }

  /** The job's `callback_headers`, opened for this attempt only (they are kept sealed). */
  private async callbackHeadersOf(job: Job): Promise<Record<string, string>> {
    if (job.callbackHeaders === null) return {}
    const opened = await this.options.encryption.open(job.callbackHeaders, callbackHeadersContext(job.id))
    return JSON.parse(opened) as Record<string, string>
  }

  async deliver(job: Job, traceHeaders?: Readonly<Record<string, string>>): Promise<DeliveryResult> {
    const body = JSON.stringify(callbackPayload(job))
    const started = this.options.clock.now()
    let own: Record<string, string>
    let secrets: string[]
    try {
      ;[secrets, own] = await Promise.all([
        this.options.secrets.secretsFor(job, started),
        this.callbackHeadersOf(job),
      ])
    } catch (error) {
      // Nothing leaves without what it should carry; the operator can bring the key back.
      return this.outcome(started, null, {
        code: 'callback_secret_unavailable',
        message: `Not sent: ${(error as Error)?.message ?? String(error)}`,
      })
    }
    // The client's headers first: none of the relay's (trace context, webhook-*) can be replaced.
    return this.post(
      job.callbackUrl,
      { ...own, ...traceHeaders, ...this.webhookHeaders(webhookIdOf(job), started, body, secrets) },
      body,
      started,
    )
  }

  /** One Standard Webhooks POST of `body` to `url`, through the same guard (the operator's events). */
  send(url: string, id: string, body: string, secrets: readonly string[]): Promise<DeliveryResult> {
    const started = this.options.clock.now()
    return this.post(url, this.webhookHeaders(id, started, body, secrets), body, started)
  }

  private webhookHeaders(
    id: string,
    now: number,
    body: string,
    secrets: readonly string[],
  ): Record<string, string> {
    const timestamp = Math.floor(now / 1000)
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': this.options.userAgent,
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
    }
    if (secrets.length > 0) headers['webhook-signature'] = signWebhookWithEach(secrets, id, timestamp, body)
    return headers
  }

  private outcome(started: number, statusCode: number | null, error: JobError | null): DeliveryResult {
    return {
      ok: error === null,
      statusCode,
      error,
      durationMs: Math.max(0, this.options.clock.now() - started),
      retryable: true,
    }
  }

  private async post(
    url: string,
    headers: Record<string, string>,
    body: string,
    started: number,
  ): Promise<DeliveryResult> {
    const result = (statusCode: number | null, error: JobError | null) =>
      this.outcome(started, statusCode, error)
    try {
      const check = await this.options.guard.check(url)
      if (!check.ok)
        return {
          ...result(null, {
            code: 'callback_forbidden',
            message: `The callback address is refused: ${check.reason}.`,
          }),
          retryable: false,
        }
      const init = { method: 'POST', headers, body, timeoutMs: this.options.timeoutMs }
      // An IP literal needs no lookup, so Bun's pooled fetch is as safe as the pinned one and reuses connections.
      const response =
        parseHostLiteral(new URL(url).hostname.replace(/^\[|\]$/g, '')) === check.address
          ? await fetch(url, {
              ...init,
              redirect: 'manual',
              signal: AbortSignal.timeout(init.timeoutMs),
            })
          : await fetchPinned(url, check.address, { ...init, agents: this.agents })
      await discardBody(response)
      if (response.status >= 200 && response.status < 300) return result(response.status, null)
      // The receiver's word that this URL is gone for good: no more attempts (as Svix and Stripe do).
      if (response.status === 410)
        return {
          ...result(410, {
            code: 'callback_gone',
            message: 'The callback answered 410 Gone; no more attempts.',
          }),
          retryable: false,
        }
      if (response.status >= 300 && response.status < 400)
        return result(response.status, {
          code: 'callback_redirect',
          message: `The callback answered ${response.status} (redirect to ${response.headers.get('location') ?? 'nowhere'}); redirects are not followed.`,
        })
      return result(response.status, {
        code: 'callback_http_status',
        message: `The callback answered ${response.status}.`,
      })
    } catch (error) {
      const name = (error as Error)?.name
      if (name === 'TimeoutError' || name === 'AbortError')
        return result(null, {
          code: 'callback_timeout',
          message: `The callback did not answer within ${this.options.timeoutMs} ms.`,
        })
      return result(null, {
        code: 'callback_connection',
        message: `Could not reach the callback: ${(error as Error)?.message ?? String(error)}`,
      })
    }
  }
}

/**
 * Reads and drops what the receiver answered (up to 64 KiB, then gives up on it): a body read to
 * its end leaves the connection free for the next callback; a cancelled one closes it.
 */
async function discardBody(response: Response, max = 64 * 1024): Promise<void> {
  const reader = response.body?.getReader()
  if (!reader) return
  try {
    for (let read = 0; read <= max; ) {
      const { done, value } = await reader.read()
      if (done) return
      read += value.byteLength
    }
    await reader.cancel()
  } catch {
    // A body that breaks off is no part of the outcome: the status has been read.
  }
}

import { RedisClient } from 'bun'
import { type Clock, type Timer, within } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { OutageLog } from './outage.ts'

/** How soon to try again after a failed connect: doubling from `firstDelayMs`, capped at `maxDelayMs`. */
export interface ReconnectBackoff {
  firstDelayMs: number
  maxDelayMs: number
}

export const RECONNECT_BACKOFF: ReconnectBackoff = { firstDelayMs: 100, maxDelayMs: 2000 }
/** A command, or a connect, that gets no answer in this time fails; a request waits no longer. */
export const REDIS_TIMEOUT_MS = 1000

/** A command sent while the connection is down: nothing was sent. */
export class RedisUnavailableError extends Error {
  constructor() {
    super('Redis is not connected')
    this.name = 'RedisUnavailableError'
  }
}

/**
 * One connection to Redis that heals by itself, forever. Bun's client reconnects on its own only
 * `maxRetries` times (20, about 31 s of 50 ms doubling to 2 s) and then fails every command for
 * good; with its offline queue, a command sent while it is disconnected waits for that reconnect.
 * So both are off: a command while disconnected fails at once, one without an answer within
 * REDIS_TIMEOUT_MS fails and drops the connection (a server that stopped answering), and the
 * reconnects run here, on the injected clock, each with a new client.
 */
export class RedisConnection {
  private client: RedisClient | undefined
  private attempts = 0
  private retry: Timer | undefined
  private closed = false
  private connecting: Promise<void> | undefined

  constructor(
    private readonly url: string,
    private readonly o: {
      clock: Clock
      logger: Logger
      outage: OutageLog
      backoff: ReconnectBackoff
    },
  ) {}

  /** Connected now: commands are sent, not refused. */
  get up(): boolean {
    return this.client?.connected === true
  }

  /** Connects; resolves once the first attempt is over, connected or not (the retries go on). */
  start(): Promise<void> {
    this.connecting ??= this.connect()
    return this.connecting
  }

  async send(command: string, args: string[]): Promise<unknown> {
    const client = this.client
    if (!client?.connected) throw new RedisUnavailableError()
    try {
      return await within(this.o.clock, REDIS_TIMEOUT_MS, `Redis ${command}`, client.send(command, args))
    } catch (error) {
      // A reply error (a bad script) leaves a working connection; anything else does not.
      if ((error as { code?: string }).code !== 'ERR_REDIS_SERVER_ERROR') this.lost(client, error)
      throw error
    }
  }

  /** Whether Redis answers a PING now (for /ready and the dependency gauge). */
  async ping(): Promise<boolean> {
    try {
      return (await this.send('PING', [])) === 'PONG'
    } catch {
      return false
    }
  }

  close(): void {
    this.closed = true
    this.retry?.cancel()
    const client = this.client
    this.client = undefined
    client?.close()
  }

  private async connect(): Promise<void> {
    if (this.closed) return
    const client = new RedisClient(this.url, {
      autoReconnect: false,
      enableOfflineQueue: false,
      connectionTimeout: REDIS_TIMEOUT_MS,
    })
    this.client = client
    client.onclose = (error) => this.lost(client, error)
    try {
      // Bun's connectionTimeout bounds the connect; this bounds the handshake after it too.
      await within(this.o.clock, 2 * REDIS_TIMEOUT_MS, 'Redis connect', client.connect())
    } catch (error) {
      this.lost(client, error)
      return
    }
    // Closed (or given up on) while connecting: this client is nobody's.
    if (this.client !== client) {
      client.close()
      return
    }
    if (this.attempts > 0) this.o.logger.debug({ attempt: this.attempts }, 'redis reconnected')
    this.attempts = 0
    this.o.outage.ended()
  }

  /** `client` failed: drop it and, unless closing, try a new one after the backoff. */
  private lost(client: RedisClient, error: unknown): void {
    if (this.client !== client) return
    this.client = undefined
    client.onclose = null
    client.close()
    this.o.outage.began(error)
    if (this.closed) return
    const { firstDelayMs, maxDelayMs } = this.o.backoff
    const delay = Math.min(maxDelayMs, firstDelayMs * 2 ** Math.min(this.attempts, 30))
    this.attempts += 1
    this.o.logger.debug(
      { attempt: this.attempts, retry_in_ms: delay, code: (error as { code?: string }).code },
      'redis connection failed',
    )
    this.retry = this.o.clock.setTimeout(() => {
      void this.connect()
    }, delay)
  }
}

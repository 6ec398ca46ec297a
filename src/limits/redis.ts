import type { Clock } from '../clock.ts'
import type { Logger } from '../log.ts'
import { type CallBudget, LocalCallBudget, WINDOW_MS } from './call-budget.ts'
import { FailOpen, FailOpenCallBudget, FailOpenRateLimitStore } from './fail-open.ts'
import type { Limits } from './limits.ts'
import { OutageLog } from './outage.ts'
import {
  MemoryRateLimitStore,
  type RateLimitStore,
  type RateLimitWindow,
  windowOf,
} from './rate-limit-store.ts'
import { RECONNECT_BACKOFF, type ReconnectBackoff, RedisConnection } from './redis-connection.ts'

// One atomic script per decision, so instances racing for the last slot cannot both win.
const TAKE = `
local log, pause = KEYS[1], KEYS[2]
local now, window, max, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local paused = tonumber(redis.call('GET', pause) or '0')
if now < paused then return 0 end
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
local granted = math.min(want, max - redis.call('ZCARD', log))
if granted <= 0 then return 0 end
for i = 1, granted do
  redis.call('ZADD', log, now, ARGV[5] .. ':' .. i)
end
redis.call('PEXPIRE', log, window)
return granted`

const NEXT_SLOT = `
local log, pause = KEYS[1], KEYS[2]
local now, window, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local paused = tonumber(redis.call('GET', pause) or '0')
if now < paused then return paused end
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
if redis.call('ZCARD', log) < max then return -1 end
local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + window`

const PAUSE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = tonumber(ARGV[1])
if at > current then redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(1, at - tonumber(ARGV[2]))) end
return 1`

const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}`

/**
 * LLM_MAX_RPM and the API rate limit for the whole fleet in Redis, failing open to this
 * instance's own limits while Redis is out of reach; `redis` joins the readiness checks.
 */
export async function openRedisLimits(
  url: string,
  o: { perMinute: number; clock: Clock; logger: Logger; backoff?: ReconnectBackoff; prefix?: string },
): Promise<Limits> {
  const outage = new OutageLog('redis', o.logger)
  const redis = new RedisConnection(url, {
    clock: o.clock,
    logger: o.logger,
    outage,
    backoff: o.backoff ?? RECONNECT_BACKOFF,
  })
  await redis.start()
  const prefix = o.prefix ?? 'llm-relay'
  const failOpen = new FailOpen({ clock: o.clock, outage, reachable: () => redis.up })
  return {
    budget: new FailOpenCallBudget(
      new RedisCallBudget(redis, o.clock, o.perMinute, prefix),
      new LocalCallBudget(o.perMinute),
      failOpen,
    ),
    rateLimit: new FailOpenRateLimitStore(
      new RedisRateLimitStore(redis, o.clock, `${prefix}:rate`),
      new MemoryRateLimitStore(o.clock),
      failOpen,
    ),
    dependencies: [{ name: 'redis', isUp: () => redis.ping() }],
    async close() {
      redis.close()
    },
  }
}

/** LLM_MAX_RPM for the whole fleet: a sliding log in a Redis sorted set. */
export class RedisCallBudget implements CallBudget {
  private readonly log: string
  private readonly pause: string

  constructor(
    private readonly redis: RedisConnection,
    private readonly clock: Clock,
    private readonly perMinute: number,
    prefix = 'llm-relay',
  ) {
    this.log = `${prefix}:llm-calls`
    this.pause = `${prefix}:llm-pause`
  }

  private pauseSeen = { until: 0, checkedAt: Number.NEGATIVE_INFINITY }

  async take(want: number, now: number): Promise<number> {
    // Without a per-minute limit only a quota pause can say no: read it at most once a second.
    if (this.perMinute <= 0) {
      if (now - this.pauseSeen.checkedAt >= 1000)
        this.pauseSeen = { until: Number((await this.redis.send('GET', [this.pause])) ?? 0), checkedAt: now }
      return now < this.pauseSeen.until ? 0 : want
    }
    const id = `${now}:${crypto.randomUUID()}`
    const args = [String(now), String(WINDOW_MS), String(this.perMinute), String(want), id]
    return Number(await this.redis.send('EVAL', [TAKE, '2', this.log, this.pause, ...args]))
  }

  async giveBack(count: number): Promise<void> {
    if (this.perMinute > 0 && count > 0) await this.redis.send('ZPOPMAX', [this.log, String(count)])
  }

  async nextSlotAt(now: number): Promise<number | undefined> {
    const max = this.perMinute <= 0 ? Number.MAX_SAFE_INTEGER : this.perMinute
    const args = [String(now), String(WINDOW_MS), String(max)]
    const at = Number(await this.redis.send('EVAL', [NEXT_SLOT, '2', this.log, this.pause, ...args]))
    return at < 0 ? undefined : at
  }

  async pauseUntil(at: number): Promise<void> {
    const now = this.clock.now()
    this.pauseSeen = { until: Math.max(this.pauseSeen.until, at), checkedAt: this.pauseSeen.checkedAt }
    await this.redis.send('EVAL', [PAUSE, '1', this.pause, String(at), String(now)])
  }
}

/** The rate limit of the API for the whole fleet: fixed windows counted in Redis. */
export class RedisRateLimitStore implements RateLimitStore {
  private duration = 60_000

  constructor(
    private readonly redis: RedisConnection,
    private readonly clock: Clock,
    private readonly prefix = 'llm-relay:rate',
  ) {}

  init(options: { duration?: unknown }): void {
    this.duration = windowOf(options, this.duration)
  }

  async increment(key: string): Promise<RateLimitWindow> {
    const [count, ttl] = (await this.redis.send('EVAL', [
      INCREMENT,
      '1',
      `${this.prefix}:${key}`,
      String(this.duration),
    ])) as [number, number]
    const now = this.clock.now()
    return {
      count: Number(count),
      nextReset: new Date(now + Number(ttl)),
      start: now + Number(ttl) - this.duration,
    }
  }

  async decrement(key: string): Promise<void> {
    await this.redis.send('DECR', [`${this.prefix}:${key}`])
  }

  async reset(key?: string): Promise<void> {
    if (key !== undefined) await this.redis.send('DEL', [`${this.prefix}:${key}`])
  }

  kill(): void {}
}

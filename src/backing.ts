import { type Clock, within } from './clock.ts'
import type { Config } from './config/config.ts'
import type { ReadinessCheck } from './http/routes/health.ts'
import { type Limits, localLimits } from './limits/limits.ts'
import { openPostgresLimits } from './limits/postgres.ts'
import { openRedisLimits } from './limits/redis.ts'
import type { ReconnectBackoff } from './limits/redis-connection.ts'
import type { Logger } from './log.ts'
import { PostgresStore } from './store/postgres.ts'
import { SqliteStore } from './store/sqlite.ts'
import type { Store } from './store/store.ts'

// Part of the composition root (main.ts): the one place beside it that picks adapters.

export interface Backing {
  store: Store
  limits: Limits
  /** What /ready and llm_relay_dependency_up report on: the store, and what the limits need. */
  readiness: ReadinessCheck[]
  close(): Promise<void>
}

/** The configured database alone, migrated (also for `llm-relay clients create`). */
export async function openStore(
  config: Config,
  clock: Clock,
  poolMax = config.databasePoolMax,
): Promise<Store> {
  return config.database.kind === 'sqlite'
    ? new SqliteStore(config.database.path, { clock })
    : await PostgresStore.open(config.database.url, { max: poolMax, schema: config.database.schema, clock })
}

/** A store that does not answer a ping this soon is not ready. */
const STORE_PING_TIMEOUT_MS = 1000

/**
 * The database and, for a fleet, the shared limits: Redis when REDIS_URL is set, else the
 * PostgreSQL database itself. One SQLite process keeps its limits in memory.
 */
export async function openBacking(
  config: Config,
  o: { clock: Clock; logger: Logger; redisBackoff: ReconnectBackoff | undefined },
): Promise<Backing> {
  const { clock, logger } = o
  const store = await openStore(config, clock)
  const perMinute = config.llmMaxRpm
  let limits: Limits
  try {
    limits = config.redisUrl
      ? await openRedisLimits(config.redisUrl, { perMinute, clock, logger, backoff: o.redisBackoff })
      : config.database.kind === 'postgres'
        ? await openPostgresLimits(config.database.url, {
            schema: config.database.schema,
            perMinute,
            clock,
            logger,
          })
        : localLimits(perMinute, clock)
  } catch (error) {
    await store.close()
    throw error
  }
  const database: ReadinessCheck = {
    name: 'database',
    isUp: () => within(clock, STORE_PING_TIMEOUT_MS, 'database ping', store.ping()).catch(() => false),
  }
  return {
    store,
    limits,
    readiness: [database, ...limits.dependencies],
    close: async () => {
      await limits.close()
      await store.close()
    },
  }
}

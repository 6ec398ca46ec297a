import type { Clock, Timer } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { Store } from '../store/store.ts'

export interface HousekeepingOptions {
  store: Store
  logger: Logger
  clock: Clock
  retentionMs: number
  historyRetentionMs: number | undefined
}

export interface HousekeepingReport {
  jobsDeleted: number
  messagesDeleted: number
}

/** Deletes what retention allows, then lets the database tidy itself; logs what it did. */
export async function runHousekeeping(o: HousekeepingOptions): Promise<HousekeepingReport> {
  const now = o.clock.now()
  const jobsDeleted = await o.store.purgeFinishedJobs(now - o.retentionMs)
  const messagesDeleted =
    o.historyRetentionMs === undefined ? 0 : await o.store.purgeHistory(now - o.historyRetentionMs)
  await o.store.maintain()
  o.logger.info({ jobs_deleted: jobsDeleted, messages_deleted: messagesDeleted }, 'housekeeping done')
  return { jobsDeleted, messagesDeleted }
}

const HOUR_MS = 3_600_000
/** Minute 17 of every hour (UTC): nobody's round number, so a fleet's runs miss the hour's rush. */
const AT_MINUTE_MS = 17 * 60_000

/** The next run's time after `now`: the next minute 17 of an hour. */
export function nextHousekeepingAt(now: number): number {
  const thisHour = Math.floor(now / HOUR_MS) * HOUR_MS + AT_MINUTE_MS
  return thisHour > now ? thisHour : thisHour + HOUR_MS
}

/** Runs housekeeping at minute 17 of every hour, on the clock, until the returned timer is cancelled. */
export function scheduleHousekeeping(o: HousekeepingOptions): Timer {
  let timer: Timer | undefined
  let cancelled = false
  const plan = () => {
    if (cancelled) return
    timer = o.clock.setTimeout(() => {
      runHousekeeping(o)
        .catch((err) => o.logger.error({ err }, 'housekeeping failed'))
        .finally(plan)
    }, nextHousekeepingAt(o.clock.now()) - o.clock.now())
  }
  plan()
  return {
    cancel() {
      cancelled = true
      timer?.cancel()
    },
  }
}

import type { Logger } from '../log.ts'
import type { Store } from '../store/store.ts'

export interface HousekeepingOptions {
  store: Store
  logger: Logger
  now: () => number
  retentionMs: number
  historyRetentionMs: number | undefined
}

export interface HousekeepingReport {
  jobsDeleted: number
  messagesDeleted: number
}

/** Deletes what retention allows, then lets the database tidy itself; logs what it did. */
export async function runHousekeeping(o: HousekeepingOptions): Promise<HousekeepingReport> {
  const now = o.now()
  const jobsDeleted = await o.store.purgeFinishedJobs(now - o.retentionMs)
  const messagesDeleted =
    o.historyRetentionMs === undefined ? 0 : await o.store.purgeHistory(now - o.historyRetentionMs)
  await o.store.maintain()
  o.logger.info({ jobs_deleted: jobsDeleted, messages_deleted: messagesDeleted }, 'housekeeping done')
  return { jobsDeleted, messagesDeleted }
}

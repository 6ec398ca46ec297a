/** The wait before the next try after `failures` failed ones; undefined when the schedule is spent. */
export function retryDelayFor(schedule: readonly number[], failures: number): number | undefined {
  return failures >= 1 ? schedule[failures - 1] : 0
}

/** All the waiting a schedule still holds after `failures` failed tries. */
export function remainingWait(schedule: readonly number[], failures: number): number {
  return schedule.slice(Math.max(0, failures - 1)).reduce((sum, ms) => sum + ms, 0)
}

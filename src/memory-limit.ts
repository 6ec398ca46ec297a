import type { Clock, Timer } from './clock.ts'

export interface MemorySoftLimitOptions {
  /** MEMORY_SOFT_LIMIT in bytes: above it the garbage is collected at once. */
  limitBytes: number
  clock: Clock
  /** The process's resident memory now, in bytes (`process.memoryUsage.rss`). */
  rss: () => number
  /** A full, synchronous collection (`Bun.gc(true)`). */
  collect: () => void
  /** Called after each collection made because of the limit (a metric counts them). */
  onCollected?: () => void
  /** How often the resident memory is read. */
  checkEveryMs?: number
  /** The least time between two collections, so a process above the limit by what it holds is not collected in a loop. */
  minGapMs?: number
}

const CHECK_EVERY_MS = 100
const MIN_GAP_MS = 1000

/**
 * A soft memory limit, as Go's GOMEMLIMIT: the relay reads its resident memory every 100 ms
 * and, once it is above MEMORY_SOFT_LIMIT, collects its garbage at once instead of waiting for
 * the runtime to. Thousands of calls held open leave most of their garbage to a collector that
 * runs late: the 10 000-conversation benchmark peaked at 270 – 360 MB, of which a full
 * collection frees 70 MB and more, and with a limit of 230 MB at 233 – 266 MB. At most one
 * collection a second: memory the process still uses is not freed by collecting again, and each
 * collection pauses the event loop (tens of milliseconds at that size). Soft: nothing is refused
 * for memory.
 */
export function startMemorySoftLimit(o: MemorySoftLimitOptions): Timer {
  const minGap = o.minGapMs ?? MIN_GAP_MS
  let last = Number.NEGATIVE_INFINITY
  return o.clock.setInterval(() => {
    const now = o.clock.now()
    if (now - last < minGap || o.rss() <= o.limitBytes) return
    last = now
    o.collect()
    o.onCollected?.()
  }, o.checkEveryMs ?? CHECK_EVERY_MS)
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Reads `500ms`, `10s`, `5m`, `2h`, `7d` or plain milliseconds; `undefined` when unreadable. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text)
  if (!match) return undefined
  const value = Number(match[1]) * (UNITS[match[2] ?? 'ms'] ?? 1)
  return Number.isFinite(value) ? Math.round(value) : undefined
}

/** Reads a comma list of durations (`5s,5m,30m`); `undefined` when any entry is unreadable. */
export function parseDurationList(text: string): number[] | undefined {
  if (text.trim() === '') return []
  const out: number[] = []
  for (const part of text.split(',')) {
    const ms = parseDuration(part)
    if (ms === undefined) return undefined
    out.push(ms)
  }
  return out
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

/** How the console writes times, durations and counts: pure functions the pages call. */

const pad = (n: number): string => String(n).padStart(2, '0')

/** `2026-12-01 09:24:17` in UTC: sortable, and the same on every operator's screen. */
export function clockTime(ms: number): string {
  const d = new Date(ms)
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString()
}

/** `12 s ago`, `4 min ago`, `3 h ago`, `2 d ago`; `in 30 s` for a time still ahead. */
export function relativeTime(ms: number, now: number): string {
  const delta = now - ms
  const ahead = delta < 0
  const s = Math.abs(delta) / 1000
  const text =
    s < 1
      ? 'now'
      : s < 60
        ? `${Math.floor(s)} s`
        : s < 3600
          ? `${Math.floor(s / 60)} min`
          : s < 86_400
            ? `${Math.floor(s / 3600)} h`
            : `${Math.floor(s / 86_400)} d`
  if (text === 'now') return 'just now'
  return ahead ? `in ${text}` : `${text} ago`
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

export function count(n: number): string {
  return n.toLocaleString('en-US')
}

/** The start of a long text, for a table cell; the page links to the whole of it. */
export function preview(text: string, max = 120): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`
}

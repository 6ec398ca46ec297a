/**
 * `Prefer: wait=N` (RFC 7240 §4.3): how long a client would like `POST /webhook` to wait for
 * the answer before it settles for 202. A preference, not a demand: anything unreadable is
 * ignored (§2), and more than the relay allows is cut to what it allows.
 */

export const PREFER_WAIT_MAX_SECONDS = 30

/** The seconds to wait, or undefined when the request prefers no wait. */
export function preferredWait(
  header: string | null,
  maxSeconds = PREFER_WAIT_MAX_SECONDS,
): number | undefined {
  if (header === null) return undefined
  // Several Prefer headers arrive joined by commas; a preference may carry `;` parameters.
  for (const preference of header.split(',')) {
    const [token, value] = (preference.split(';')[0] ?? '').split('=').map((s) => s.trim())
    if (token?.toLowerCase() !== 'wait' || value === undefined) continue
    const unquoted = value.replace(/^"(.*)"$/, '$1')
    if (!/^\d{1,9}$/.test(unquoted)) return undefined
    const seconds = Math.min(Number(unquoted), maxSeconds)
    return seconds > 0 ? seconds : undefined
  }
  return undefined
}

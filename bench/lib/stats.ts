/** The q-quantile (0..1) of `values` by the nearest-rank method; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] as number
}

export const median = (values: readonly number[]): number => quantile(values, 0.5)

/** Rounds for a table or a JSON line: 3 significant digits past the integer part. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value
  const factor = 10 ** Math.max(0, digits - Math.max(0, Math.floor(Math.log10(Math.abs(value))) + 1))
  return Math.round(value * factor) / factor
}

/**
 * What every bench script reports: one JSON line on stdout, `{"bench": …, "figures": […], …}`.
 * `bench/run.ts` reads these lines and writes the table in docs/benchmarks.md.
 */
export interface Figure {
  /** Row name in the table, e.g. "intake". */
  what: string
  /** The measured value as shown, with its unit. */
  measured: string
  /** What it is compared with, as shown. */
  baseline: string
  /** measured ÷ baseline where the target is a ratio; else null. */
  ratio: number | null
  target: string
  pass: boolean
}

export interface BenchResult {
  bench: string
  figures: Figure[]
  /** Curves and query plans for the cost section; other scripts leave it out. */
  sections?: { title: string; markdown: string }[]
  [detail: string]: unknown
}

export function report(result: BenchResult): void {
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

/** Progress for the person watching; stderr, so stdout stays one JSON line. */
export function note(text: string): void {
  process.stderr.write(`  ${text}\n`)
}

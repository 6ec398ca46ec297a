import { readFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'

export interface Machine {
  cpu: string
  cores: number
  bun: string
  os: string
  date: string
  /** The file system the benchmark databases live on: fsync cost depends on it. */
  dataFs: string
}

/** Where the benchmarks put their databases; BENCH_DIR moves them (e.g. off a tmpfs /tmp). */
export const benchDir = (): string => process.env.BENCH_DIR ?? tmpdir()

function fileSystemOf(path: string): string {
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .filter((f) => f.length > 2 && path.startsWith(f[1] as string))
      .sort((a, b) => (b[1] as string).length - (a[1] as string).length)
    const best = mounts[0]
    return best ? `${best[2]} (${best[1]})` : 'unknown'
  } catch {
    return 'unknown'
  }
}

export function machine(): Machine {
  const list = cpus()
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    bun: Bun.version,
    os: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
    dataFs: fileSystemOf(benchDir()),
  }
}

/** `bun run bench --quick` (BENCH_QUICK=1): shorter runs, and the benchmarks without a target of issue 16 left out. */
export const quick = (): boolean => process.env.BENCH_QUICK === '1'

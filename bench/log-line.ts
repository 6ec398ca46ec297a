/**
 * The request log line: CPU per line of the line every POST /webhook writes, through pino's
 * general path and through `infoLine`, to the relay's own batched writer, and through pino's
 * shipped asynchronous destination (`pino.destination({ sync: false, minLength: 4096 })`,
 * sonic-boom). Lines go to a file, 50 a turn of the event loop, as under load. No target: a
 * section of docs/benchmarks.md.
 */
import { mkdtempSync, openSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { BatchedWriter, createLogger } from '../src/log.ts'
import { infoLine } from '../src/log-line.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { benchDir } from './lib/machine.ts'
import { median, round } from './lib/stats.ts'

const LINES = 200_000
const PER_TURN = 50
const dir = mkdtempSync(join(benchDir(), 'llm-relay-log-'))
const fields = {
  request_id: '0192c3a4-1234-7abc-8def-0123456789ab',
  method: 'POST',
  route: '/webhook',
  path: '/webhook',
  status: 202,
  ms: 1.23,
  client: 'anonymous',
  job_id: '0192c3a4-1234-7abc-8def-0123456789ac',
  conversation_id: 'bench-intake',
  outcome: 'accepted',
}

type Variant = { name: string; destination: () => pino.DestinationStream; line: 'pino' | 'infoLine' }
const VARIANTS: Variant[] = [
  {
    name: "pino's line, our batched writer (before)",
    destination: () => new BatchedWriter(fd()),
    line: 'pino',
  },
  { name: "pino's line, pino.destination (sonic-boom)", destination: () => sonic(), line: 'pino' },
  {
    name: 'infoLine, our batched writer (now)',
    destination: () => new BatchedWriter(fd()),
    line: 'infoLine',
  },
  { name: 'infoLine, pino.destination (sonic-boom)', destination: () => sonic(), line: 'infoLine' },
]

let files = 0
const fd = () => openSync(join(dir, `log-${files++}`), 'w')
const sonic = () => pino.destination({ dest: fd(), sync: false, minLength: 4096 })

async function cpuPerLine(variant: Variant): Promise<number> {
  const logger = createLogger('info', variant.destination())
  const write = async (n: number) => {
    for (let i = 0; i < n; i += PER_TURN) {
      for (let j = 0; j < PER_TURN; j++)
        variant.line === 'pino' ? logger.info(fields, 'request') : infoLine(logger, fields, 'request')
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  await write(LINES / 4)
  const rounds: number[] = []
  for (let r = 0; r < 3; r++) {
    const before = process.cpuUsage()
    await write(LINES)
    const used = process.cpuUsage(before)
    rounds.push((used.user + used.system) / LINES)
  }
  return median(rounds)
}

try {
  const measured: { name: string; us: number }[] = []
  for (const variant of VARIANTS) {
    note(variant.name)
    measured.push({ name: variant.name, us: await cpuPerLine(variant) })
  }
  const result: BenchResult = {
    bench: 'log-line',
    lines: LINES,
    variants: measured.map((m) => ({ name: m.name, cpu_us_per_line: round(m.us) })),
    figures: [],
    sections: [
      {
        title: 'The request log line',
        markdown: [
          `CPU per line of the line each \`POST /webhook\` writes (${Object.keys(fields).length} fields), ${LINES} lines to a file, ${PER_TURN} a turn of the event loop.`,
          '',
          '| line, destination | CPU per line |',
          '| --- | ---: |',
          ...measured.map((m) => `| ${m.name} | ${round(m.us)} µs |`),
        ].join('\n'),
      },
    ],
  }
  report(result)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
process.exit(0)

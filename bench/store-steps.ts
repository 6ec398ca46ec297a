/**
 * The store's CPU per job, step by step: the SqliteStore on a database file, driven through
 * its port as the worker drives it (accept, claim, the history read, the answer, the delivery
 * record), 50 jobs a batch so each step's writes share one group commit, as under load. Two
 * shapes of traffic: every conversation with one message at a time (a chat bot's usual case),
 * and four messages queued per conversation (each answer lets the next one go). This process's
 * CPU time for each step (`process.cpuUsage`), the median over the rounds; no HTTP, no LLM.
 * No target: a section of the report, showing where the store's share of a job's CPU goes.
 *
 * BENCH_COMPARE_WITH=<another checkout> runs that checkout's SqliteStore in the same process,
 * round for round in turns with this one's: a before and after that a busy neighbour moves
 * alike, which separate runs on a shared machine cannot give (they moved ±15 % here).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { SqliteStore } from '../src/store/sqlite.ts'
import type { Job, NewJob, Store } from '../src/store/store.ts'
import { type BenchResult, note, report } from './lib/figures.ts'
import { benchDir, quick } from './lib/machine.ts'
import { median, round } from './lib/stats.ts'

const BATCH = 50
const ROUNDS = quick() ? 12 : 40
const WARMUP_ROUNDS = 4
const BATCHES_A_ROUND = 8
const STEPS = ['accept', 'claim', 'history', 'answer', 'delivered'] as const
type Step = (typeof STEPS)[number]
type PerJob = Record<Step | 'total', number>

interface Side {
  name: string
  store: Store
  dir: string
  /** The next conversation to use (1 000 in turn). */
  next: number
  rounds: Record<Step, number>[]
}

function newJob(conversationId: string, now: number): NewJob {
  return {
    id: Bun.randomUUIDv7(),
    owner: '',
    conversationId,
    message: 'Hello, relay. What is the capital of France?',
    callbackUrl: 'http://127.0.0.1:9/hook',
    model: 'bench/model',
    systemPrompt: '',
    metadata: null,
    idempotencyKey: null,
    requestHash: '',
    now,
  }
}

/** One round: batches of accepts, each worked off to the end; CPU µs per job of each step. */
async function runRound(side: Side, queued: number): Promise<Record<Step, number>> {
  const { store } = side
  const cpu: Record<Step, number> = { accept: 0, claim: 0, history: 0, answer: 0, delivered: 0 }
  const timed = async <T>(step: Step, work: () => Promise<T>): Promise<T> => {
    const before = process.cpuUsage()
    const value = await work()
    const used = process.cpuUsage(before)
    cpu[step] += used.user + used.system
    return value
  }
  let jobs = 0
  for (let b = 0; b < BATCHES_A_ROUND; b++) {
    const now = Date.now()
    const conversations = Math.max(1, BATCH / queued)
    await timed('accept', () =>
      Promise.all(
        Array.from({ length: BATCH }, (_, i) =>
          store.acceptJob(newJob(`c${(side.next + (i % conversations)) % 1000}`, now)),
        ),
      ),
    )
    side.next += conversations
    while (true) {
      const claimed: Job[] = await timed('claim', () =>
        store.claimJobs({ workerId: 'w', now: Date.now(), leaseMs: 60_000, limit: BATCH, llmLimit: BATCH }),
      )
      if (claimed.length === 0) break
      await timed('history', () =>
        Promise.all(claimed.map((job) => store.readHistory(job.owner, job.conversationId, 50))),
      )
      await timed('answer', () =>
        Promise.all(
          claimed.map((job) =>
            store.recordAnswer(
              job.id,
              'w',
              {
                response: 'Paris is the capital of France.',
                model: 'bench/model',
                usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 },
              },
              Date.now(),
            ),
          ),
        ),
      )
      await timed('delivered', () =>
        Promise.all(
          claimed.map((job) =>
            store.recordDeliveryAttempt(
              job.id,
              'w',
              { at: Date.now(), statusCode: 200, error: null, durationMs: 1 },
              { status: 'delivered' },
            ),
          ),
        ),
      )
      jobs += claimed.length
    }
  }
  for (const step of STEPS) cpu[step] /= jobs
  return cpu
}

async function sideOf(name: string, Store: new (path: string) => Store): Promise<Side> {
  const dir = mkdtempSync(join(benchDir(), 'llm-relay-steps-'))
  return { name, store: new Store(join(dir, 'relay.db')), dir, next: 0, rounds: [] }
}

function summary(side: Side): PerJob {
  const result = { total: 0 } as PerJob
  for (const step of STEPS) {
    result[step] = round(median(side.rounds.map((r) => r[step])), 3)
    result.total += result[step]
  }
  result.total = round(result.total, 3)
  return result
}

async function measure(queued: number): Promise<Side[]> {
  const other = process.env.BENCH_COMPARE_WITH
  const sides = [await sideOf('this checkout', SqliteStore)]
  if (other) {
    const { SqliteStore: OtherStore } = (await import(join(other, 'src', 'store', 'sqlite.ts'))) as {
      SqliteStore: new (path: string) => Store
    }
    sides.push(await sideOf(other, OtherStore))
  }
  try {
    for (let r = 0; r < WARMUP_ROUNDS + ROUNDS; r++) {
      // In turns, and the order swapped each round, so neither side always runs first.
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
        const cpu = await runRound(side, queued)
        if (r >= WARMUP_ROUNDS) side.rounds.push(cpu)
      }
    }
    return sides
  } finally {
    for (const side of sides) {
      await side.store.close()
      rmSync(side.dir, { recursive: true, force: true })
    }
  }
}

note('one message at a time per conversation')
const alone = await measure(1)
note('four messages queued per conversation')
const four = await measure(4)
const row = (shape: string, side: Side) => {
  const r = summary(side)
  return `| ${shape}${alone.length > 1 ? `, ${side.name}` : ''} | ${STEPS.map((s) => r[s]).join(' | ')} | **${r.total}** |`
}
const result: BenchResult = {
  bench: 'store-steps',
  batch: BATCH,
  rounds: ROUNDS,
  one_at_a_time_us: Object.fromEntries(alone.map((s) => [s.name, summary(s)])),
  four_queued_us: Object.fromEntries(four.map((s) => [s.name, summary(s)])),
  figures: [],
  sections: [
    {
      title: 'The store’s CPU per job, step by step (µs, SQLite file)',
      markdown: [
        `The SqliteStore on a database file, through its port, ${BATCH} jobs a batch (one group commit a step); this process's CPU time per job, the median of ${ROUNDS} rounds (\`bench/store-steps.ts\`).`,
        '',
        `| conversations | ${STEPS.join(' | ')} | total |`,
        `| --- | ${STEPS.map(() => '---:').join(' | ')} | ---: |`,
        ...alone.map((side) => row('one message at a time', side)),
        ...four.map((side) => row('four queued each', side)),
      ].join('\n'),
    },
  ],
}
report(result)

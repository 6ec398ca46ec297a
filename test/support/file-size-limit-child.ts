/**
 * Run by test/store-faults.test.ts under `ulimit -f`: a SQLite store whose file may not
 * grow past the limit. Prints what each step gave as one JSON line.
 */
import { SqliteStore } from '../../src/store/sqlite.ts'
import { newJob } from './stores.ts'

const store = new SqliteStore(process.argv[2] as string)
const outcome = (p: Promise<{ kind: string }>) =>
  p.then(
    (r) => r.kind,
    (error: unknown) => (error as Error).constructor.name,
  )
const before = await outcome(store.acceptJob(newJob()))
// One batch, together far past the limit.
const big = 'x'.repeat(1024 * 1024)
const batch = await Promise.all(
  Array.from({ length: 4 }, () => outcome(store.acceptJob(newJob({ message: big })))),
)
const after = await outcome(store.acceptJob(newJob()))
await store.close()
console.log(JSON.stringify({ before, batch, after }))

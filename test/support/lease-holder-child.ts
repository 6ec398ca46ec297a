/**
 * Run by test/lease-recovery.test.ts: a worker process on a SQLite file that takes its
 * presence lock and holds two leases (one job at the LLM, one at its callback), says
 * `ready` and waits to be killed.
 */
import { SqliteStore } from '../../src/store/sqlite.ts'
import { LEASE, newJob, T0 } from './stores.ts'

const store = new SqliteStore(process.argv[2] as string)
const worker = 'child-worker'
const recovered = await store.recoverAbandonedLeases(worker, T0, 8000)
await store.acceptJob(newJob({ id: 'at-the-llm', conversationId: 'a' }))
await store.acceptJob(newJob({ id: 'at-the-callback', conversationId: 'b' }))
await store.claimJobs({ workerId: worker, now: T0, leaseMs: LEASE, limit: 2, llmLimit: 2 })
await store.recordAnswer('at-the-callback', worker, { response: 'done', model: 'm', usage: null }, T0)
console.log(JSON.stringify({ ready: true, recovered }))
setInterval(() => store, 60_000)

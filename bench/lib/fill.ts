import { Database } from 'bun:sqlite'
import { SqliteStore } from '../../src/store/sqlite.ts'

export interface FillSpec {
  jobs: number
  /** Jobs per conversation; each conversation's first job is its head, the rest wait. */
  perConversation: number
  callbackUrl: string
  now: number
  prefix?: string
}

/**
 * Puts `jobs` queued jobs straight into a store's database in one transaction, rows as
 * `acceptJob` writes them (one at a time it would take minutes at 1M): the schema comes
 * from the store's own migrations.
 */
export async function fillQueue(path: string, spec: FillSpec): Promise<number> {
  await new SqliteStore(path).close()
  const db = new Database(path, { strict: true })
  const started = performance.now()
  const prefix = spec.prefix ?? 'fill'
  const conversations = Math.ceil(spec.jobs / spec.perConversation)
  const insertJob = db.query(
    `INSERT INTO jobs (id, owner, conversation_id, sequence, status, waiting, available_at, message, callback_url,
       model, system_prompt, metadata, idempotency_key, request_hash, created_at, updated_at)
     VALUES (?1, '', ?2, ?3, 'queued', ?4, ?5, ?6, ?7, 'fake/model', 'You are a helpful assistant.', NULL, NULL,
       'bench', ?5, ?5)`,
  )
  const insertConversation = db.query(
    `INSERT INTO conversations (owner, id, last_sequence, open_jobs, created_at) VALUES ('', ?1, ?2, ?2, ?3)`,
  )
  db.transaction(() => {
    // Round-robin, as traffic from many conversations arrives: sequence k of every conversation, then k + 1.
    for (let i = 0; i < spec.jobs; i++) {
      const c = i % conversations
      const sequence = Math.floor(i / conversations) + 1
      insertJob.run(
        `${prefix}-${i}`,
        `${prefix}-c${c}`,
        sequence,
        sequence > 1 ? 1 : 0,
        spec.now,
        `queued message ${i}: What is the capital of France?`,
        spec.callbackUrl,
      )
    }
    for (let c = 0; c < conversations; c++) {
      const count = Math.floor(spec.jobs / conversations) + (c < spec.jobs % conversations ? 1 : 0)
      insertConversation.run(`${prefix}-c${c}`, count, spec.now)
    }
  })()
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  db.close()
  return performance.now() - started
}

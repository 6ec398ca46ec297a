/**
 * The intake baseline: a bare Elysia route with the relay's own webhook body schema and
 * nothing else (no store, no auth, no logging). Run as its own process; prints its URL.
 *
 * BARE_STORE=sqlite|memory adds exactly one thing, the relay's own `SqliteStore.acceptJob`
 * (a database file with synchronous = FULL, or `:memory:`), awaited before the 202: the
 * ceiling any relay with that store can reach, measured beside the relay (bench/intake.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { webhookBodySchema } from '../src/http/schemas.ts'
import { SqliteStore } from '../src/store/sqlite.ts'

const maxMessageChars = 32_000
const kind = process.env.BARE_STORE ?? 'none'
const dir =
  kind === 'sqlite' ? mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'llm-relay-bare-')) : undefined
const store = kind === 'none' ? undefined : new SqliteStore(dir ? join(dir, 'relay.db') : ':memory:')
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    process.exit(0)
  })

const app = new Elysia({ normalize: false })
  .get('/health', () => ({ status: 'ok' }))
  .post(
    '/webhook',
    async ({ body, status }) => {
      const id = Bun.randomUUIDv7()
      const conversationId = body.conversation_id ?? 'cb'
      await store?.acceptJob({
        id,
        owner: '',
        conversationId,
        message: body.message,
        callbackUrl: body.callback_url,
        model: 'bench/model',
        systemPrompt: '',
        metadata: null,
        idempotencyKey: null,
        requestHash: '',
        now: Date.now(),
      })
      return status(202, { id, conversation_id: conversationId, status: 'queued', status_url: '/jobs/x' })
    },
    { body: webhookBodySchema(maxMessageChars) },
  )
  .listen({ hostname: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
console.log(JSON.stringify({ url: app.server?.url.toString().replace(/\/$/, '') }))

/**
 * The intake baseline: a bare Elysia route with the relay's own webhook body schema and
 * nothing else (no store, no auth, no logging). Run as its own process; prints its URL.
 */
import { Elysia } from 'elysia'
import { webhookBodySchema } from '../src/http/schemas.ts'

const maxMessageChars = 32_000
const app = new Elysia({ normalize: false })
  .get('/health', () => ({ status: 'ok' }))
  .post(
    '/webhook',
    ({ body, status }) =>
      status(202, {
        id: Bun.randomUUIDv7(),
        conversation_id: body.conversation_id ?? 'cb',
        status: 'queued',
        status_url: '/jobs/x',
      }),
    { body: webhookBodySchema(maxMessageChars) },
  )
  .listen({ hostname: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
console.log(JSON.stringify({ url: app.server?.url.toString().replace(/\/$/, '') }))

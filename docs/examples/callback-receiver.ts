/**
 * A callback receiver to try llm-relay with: prints every callback and answers 200. With
 * CALLBACK_SECRET set (the relay's), it verifies the Standard Webhooks signature and answers
 * 401 to a callback that does not verify. No dependencies:
 *
 *   PORT=8080 CALLBACK_SECRET=whsec_… bun run docs/examples/callback-receiver.ts
 *
 * compose.yaml runs it in the `demo` profile. In your own receiver, prefer the
 * `standardwebhooks` package (README, "Verifying the signature").
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

const port = Number(process.env.PORT ?? 8080)
const secret = process.env.CALLBACK_SECRET || undefined
/** Older (or newer) signed timestamps are refused: a replayed callback is stale. */
const TOLERANCE_SECONDS = 5 * 60

/** Why the signature does not verify, or undefined when it does. */
function signatureProblem(
  key: string,
  headers: Headers,
  body: string,
  nowSeconds = Date.now() / 1000,
): string | undefined {
  const id = headers.get('webhook-id')
  const timestamp = headers.get('webhook-timestamp')
  const signatures = headers.get('webhook-signature')
  if (!id || !timestamp || !signatures) return 'webhook-id, webhook-timestamp or webhook-signature is missing'
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE_SECONDS)
    return 'the timestamp is more than 5 minutes off'
  const mac = createHmac('sha256', Buffer.from(key.replace(/^whsec_/, ''), 'base64'))
    .update(`${id}.${timestamp}.${body}`)
    .digest()
  // The header may carry several space-separated signatures (key rotation); one must match.
  for (const signature of signatures.split(' ')) {
    const [version, value] = signature.split(',')
    if (version !== 'v1' || !value) continue
    const given = Buffer.from(value, 'base64')
    if (given.length === mac.length && timingSafeEqual(given, mac)) return undefined
  }
  return 'no signature matches'
}

function show(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2)
  } catch {
    return body
  }
}

const server = Bun.serve({
  hostname: '0.0.0.0',
  port,
  async fetch(request) {
    if (request.method !== 'POST')
      return new Response('llm-relay callback receiver: POST callbacks here.\n', { status: 405 })
    // The raw bytes are what was signed: verify them before parsing.
    const body = await request.text()
    const problem = secret === undefined ? undefined : signatureProblem(secret, request.headers, body)
    const signature =
      secret === undefined
        ? 'not checked (no CALLBACK_SECRET)'
        : problem === undefined
          ? 'verified'
          : `INVALID, ${problem}`
    process.stdout.write(
      [
        `── ${request.method} ${new URL(request.url).pathname}  ${new Date().toISOString()}`,
        `webhook-id: ${request.headers.get('webhook-id') ?? '(none)'}`,
        `signature: ${signature}`,
        show(body),
        '',
      ].join('\n'),
    )
    return problem === undefined ? new Response('ok') : new Response('bad signature', { status: 401 })
  },
})

process.stdout.write(`callback receiver listening on http://0.0.0.0:${server.port}\n`)

for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    server.stop(true)
    process.exit(0)
  })

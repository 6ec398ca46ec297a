/**
 * `bun run console:screenshots`: starts a real relay (fake LLM, callback sinks), fills it with
 * a morning's worth of jobs in every state, and saves the console pages the README shows as
 * docs/console-*.png. Run it again after changing a page; never edit the pictures by hand.
 */
import { join } from 'node:path'
import { browserAvailable, openBrowser } from '../test/support/browser.ts'
import { CallbackSink } from '../test/support/callback-sink.ts'
import { apiError, completion, type LlmCall } from '../test/support/fake-llm.ts'
import { startTestRelay } from '../test/support/relay.ts'
import { eventually } from '../test/support/signal.ts'

const DOCS = join(import.meta.dir, '..', 'docs')

const ANSWERS: [RegExp, string][] = [
  [
    /#2290/,
    'Order #2290 was held up at the carrier’s depot; it is now due Friday, and I have asked them to prioritise it.',
  ],
  [/order/i, 'Order #1187 left our warehouse on Monday; the tracking link shows delivery by Thursday noon.'],
  [
    /refund/i,
    'Refunds are issued to the original payment method within 5 business days of the return arriving.',
  ],
  [/portuguese/i, '“Bom dia” — and “boa tarde” after noon.'],
  [/name/i, 'Hello Ada! Nice to meet you. How can I help today?'],
  [
    /summar/i,
    'In short: the invoice covers November, is due on the 15th, and includes the new support plan.',
  ],
]

function answer(call: LlmCall): Response {
  const last = call.body.messages.at(-1)?.content ?? ''
  const found = ANSWERS.find(([pattern]) => pattern.test(last))
  return completion(
    found?.[1] ?? `Here is what I found about “${last.slice(0, 60)}”.`,
    'meta-llama/llama-3.3-70b-instruct:free',
  )
}

// Calls of parallel conversations arrive in any order: the fake answers by message, not by turn.
let outages = 1
let releaseHeld = () => {}
const held = new Promise<void>((resolve) => {
  releaseHeld = resolve
})
let heldArrived = () => {}
const heldReceived = new Promise<void>((resolve) => {
  heldArrived = resolve
})
async function route(call: LlmCall): Promise<Response> {
  const last = call.body.messages.at(-1)?.content ?? ''
  if (last.startsWith('Summarise this thread') && outages-- > 0) return apiError(503, 'upstream overloaded')
  if (last.startsWith('Draft a reply')) return apiError(401, 'invalid api key')
  if (last.startsWith('And when')) {
    heldArrived()
    await held
  }
  return answer(call)
}

if (!browserAvailable()) process.exit(1)

const ACME = 'acme-key-0123456789abcdef'
const GLOBEX = 'globex-key-0123456789abcdef'
const OPS = 'ops-admin-key-0123456789abcdef'
const relay = await startTestRelay({
  API_KEYS: `acme:${ACME},globex:${GLOBEX}`,
  ADMIN_API_KEYS: `ops:${OPS}`,
  CALLBACK_RETRY_SCHEDULE: '20ms,20ms',
  LLM_RETRY_SCHEDULE: '20ms',
  LLM_MAX_RPM: '60',
})
const down = new CallbackSink().fail(503)
try {
  relay.llm.next(...Array.from({ length: 50 }, () => route))
  const send = async (
    key: string,
    conversation: string,
    message: string,
    extra: { to?: string; metadata?: object } = {},
  ): Promise<{ id: string }> => {
    const response = await relay.post(
      {
        message,
        conversation_id: conversation,
        callback_url: extra.to ?? `${relay.sink.url}/hooks/support`,
        ...(extra.metadata ? { metadata: extra.metadata } : {}),
      },
      { authorization: `Bearer ${key}` },
    )
    if (response.status !== 202) throw new Error(`${response.status}: ${await response.text()}`)
    return (await response.json()) as { id: string }
  }
  const waitFor = (id: string, status: string) =>
    eventually(async () => {
      const r = await fetch(`${relay.url}/jobs/${id}`, { headers: { authorization: `Bearer ${OPS}` } })
      return ((await r.json()) as { status: string }).status === status
    }, `job ${id} to be ${status}`)
  const crm = `${down.url}/hooks/crm`

  await send(ACME, 'customer-42', 'Hi! My name is Ada.', {
    metadata: { channel: 'whatsapp', locale: 'en-GB' },
  })
  await send(ACME, 'customer-42', 'Where is my order #1187?')
  await send(GLOBEX, 'billing-7731', 'Can you summarise the November invoice?')
  await send(GLOBEX, 'lang-desk', 'Translate "good morning" into Portuguese.')
  await send(ACME, 'customer-58', 'What is your refund policy?')
  const dead = await send(ACME, 'customer-91', 'Where is my order #2290? It was due Tuesday.', {
    to: crm,
    metadata: { ticket: 'T-4471', priority: 'high' },
  })
  const dead2 = await send(GLOBEX, 'customer-77', 'Please cancel my subscription.', { to: crm })
  await waitFor(dead.id, 'dead')
  await waitFor(dead2.id, 'dead')
  // Errors the overview counts: an outage that recovers, a key the LLM refuses.
  await send(ACME, 'customer-58', 'Summarise this thread for the account manager.')
  const failed = await send(GLOBEX, 'customer-91', 'Draft a reply about the delayed order.')
  await waitFor(failed.id, 'delivered')
  // Still running as the pictures are taken: one call held open, the next message in line.
  await send(ACME, 'customer-42', 'And when will order #1187 arrive?')
  await heldReceived
  await send(ACME, 'customer-42', 'Thanks, that helps!')

  const browser = await openBrowser()
  try {
    const page = await browser.context.newPage()
    await page.goto(`${relay.url}/console/sign-in`)
    await page.fill('input[name=key]', OPS)
    await page.click('button[type=submit]')
    await page.waitForURL(`${relay.url}/console`)
    const shot = async (path: string, file: string) => {
      await page.goto(`${relay.url}${path}`)
      await page.waitForLoadState('networkidle')
      await page.screenshot({ path: join(DOCS, file) })
      process.stdout.write(`docs/${file}\n`)
    }
    await shot('/console', 'console-overview.png')
    await shot('/console/jobs', 'console-jobs.png')
    await shot(`/console/jobs/${dead.id}`, 'console-job.png')
  } finally {
    await browser.close()
    releaseHeld()
  }
} finally {
  down.stop()
  await relay.close()
}
process.exit(0)

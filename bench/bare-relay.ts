/**
 * The floor of bench/crowd.ts: a "relay" with nothing but its HTTP, as its own process. It
 * answers POST /webhook with 202 at once, calls the LLM with a plain fetch (at most
 * WORKER_CONCURRENCY at once, first come first served) and POSTs the answer to the callback
 * URL: no store, no SDK, no signature, no conversation order, no log. What the machine allows
 * for the same load on the same run; the relay's figures are set against it.
 */
const port = Number(process.env.PORT ?? 0)
const llmUrl = `${process.env.LLM_BASE_URL}/chat/completions`
const concurrency = Number(process.env.WORKER_CONCURRENCY ?? 16)

interface Work {
  message: string
  callbackUrl: string
  conversationId: string
}

const waiting: Work[] = []
let running = 0

async function answer(work: Work): Promise<void> {
  const response = await fetch(llmUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
    body: JSON.stringify({ model: 'fake/model', messages: [{ role: 'user', content: work.message }] }),
  })
  const completion = (await response.json()) as { choices: { message: { content: string } }[] }
  const callback = await fetch(work.callbackUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      type: 'job.completed',
      data: {
        message: work.message,
        conversation_id: work.conversationId,
        response: completion.choices[0]?.message.content,
      },
    }),
  })
  await callback.arrayBuffer()
}

function pump(): void {
  while (running < concurrency && waiting.length > 0) {
    const work = waiting.shift() as Work
    running++
    void answer(work)
      .catch(() => {})
      .finally(() => {
        running--
        pump()
      })
  }
}

const listening = Bun.serve({
  hostname: '127.0.0.1',
  port,
  async fetch(request) {
    if (request.method === 'GET') return Response.json({ status: 'ok' })
    const body = (await request.json()) as { message: string; callback_url: string; conversation_id: string }
    waiting.push({
      message: body.message,
      callbackUrl: body.callback_url,
      conversationId: body.conversation_id,
    })
    pump()
    return Response.json({ id: crypto.randomUUID(), status: 'queued' }, { status: 202 })
  },
})
console.log(JSON.stringify({ url: `http://127.0.0.1:${listening.port}` }))

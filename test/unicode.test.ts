import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
beforeAll(async () => {
  relay = await startTestRelay()
})
afterAll(() => relay.close())

const messages: [string, string][] = [
  ['emoji and joiners', '👩‍👩‍👧‍👦 family, 🏳️‍🌈 flag, skin 👍🏽'],
  ['right-to-left text', 'مرحبا بالعالم — שלום עולם \u202Eevil\u202C'],
  ['NUL and control bytes', 'before\u0000after\u0001\u001f\u007f'],
  ['lone surrogate-free astral plane', '𝕳𝖊𝖑𝖑𝖔 𐍈 𓀀'],
  ['combining marks', 'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇'],
  ['a very long line', `${'long line '.repeat(3000)}end`],
  ['JSON-looking text', '{"message":"not really","callback_url":"x"}\n\\n\\u0000'],
]

test.each(messages)('%s round-trips byte-exact to the LLM and the callback', async (name, message) => {
  const { id } = await relay.send(message, { conversation_id: `unicode-${name.replace(/\W+/g, '-')}` })
  const [callback] = await relay.sink.waitForJob(id)
  const call = relay.llm.calls.find((c) => c.body.messages.at(-1)?.content === message)
  expect(call).toBeDefined()
  expect(callback?.body.data.message).toBe(message)
  expect(callback?.body.data.response).toBe(`echo: ${message}`)
  expect((await relay.job(id)).message).toBe(message)
})

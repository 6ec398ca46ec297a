import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { startTestRelay, type TestRelay } from './support/relay.ts'

let relay: TestRelay
beforeAll(async () => {
  // Room for the system prompt, the new message and about one earlier exchange of ~60 tokens.
  relay = await startTestRelay({ HISTORY_MAX_TOKENS: '150', SYSTEM_PROMPT: 'Be brief.' })
})
afterAll(() => relay.close())

const words = (n: number, word: string) => Array.from({ length: n }, () => word).join(' ')

test('the prompt takes the newest whole exchanges that fit HISTORY_MAX_TOKENS; the new message always goes', async () => {
  const conversation = 'tokens-1'
  for (const message of [`first ${words(25, 'apple')}`, `second ${words(25, 'pear')}`]) {
    const { id } = await relay.send(message, { conversation_id: conversation })
    await relay.waitForStatus(id, 'delivered')
  }
  const { id } = await relay.send(`third ${words(25, 'plum')}`, { conversation_id: conversation })
  const job = (await relay.waitForStatus(id, 'delivered')) as unknown as { prompt_tokens_counted: number }
  const call = relay.llm.calls.at(-1)
  const contents = call?.body.messages.map((m) => m.content.split(' ')[0]) ?? []
  // The first exchange no longer fits; the second does, whole (question and answer).
  expect(contents).toEqual(['Be', 'second', 'echo:', 'third'])
  expect(job.prompt_tokens_counted).toBeGreaterThan(0)
  expect(job.prompt_tokens_counted).toBeLessThanOrEqual(150)

  // Each message was counted once, as it joined history, and the count is stored with it.
  const db = new Database(join(relay.dir, 'relay.db'), { readonly: true })
  try {
    const rows = db
      .query<{ tokens: number | null }, [string]>(
        'SELECT tokens FROM messages WHERE conversation_id = ? ORDER BY id',
      )
      .all(conversation)
    expect(rows).toHaveLength(6)
    for (const row of rows) expect(row.tokens).toBeGreaterThan(20)
  } finally {
    db.close()
  }
})

test('a new message larger than the whole budget still goes, alone', async () => {
  const { id: first } = await relay.send('short one', { conversation_id: 'tokens-2' })
  await relay.waitForStatus(first, 'delivered')
  const { id } = await relay.send(`huge ${words(300, 'word')}`, { conversation_id: 'tokens-2' })
  const job = (await relay.waitForStatus(id, 'delivered')) as unknown as { prompt_tokens_counted: number }
  const call = relay.llm.calls.at(-1)
  expect(call?.body.messages.map((m) => m.role)).toEqual(['system', 'user'])
  expect(call?.body.messages.at(-1)?.content).toStartWith('huge ')
  expect(job.prompt_tokens_counted).toBeGreaterThan(150)
})

import { afterAll, expect, test } from 'bun:test'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { parseConfig } from '../src/config/config.ts'
import { createLogger } from '../src/log.ts'
import { startRelay } from '../src/main.ts'
import { openOutsideWorld } from './support/outside-world.ts'
import { runCommand } from './support/process.ts'
import { startTestRelay, testEnv } from './support/relay.ts'

const { dir, llm, close } = openOutsideWorld('listen')
afterAll(close)

const MAIN = join(import.meta.dir, '..', 'src', 'main.ts')

test('a port another relay holds fails the start, naming PORT, and the first relay keeps every request', async () => {
  const first = await startTestRelay()
  try {
    const port = new URL(first.url).port
    const config = parseConfig(testEnv(join(dir, 'second'), llm, { PORT: port }))
    const second = startRelay(config, { logger: createLogger('silent') })
    await expect(second).rejects.toThrow(`PORT=${port} is already in use`)
    const { id } = await first.send('still mine')
    for (let i = 0; i < 6; i++) expect((await fetch(`${first.url}/jobs/${id}`)).status).toBe(200)
    await first.waitForStatus(id, 'delivered')
  } finally {
    await first.close()
  }
})

test('a port held by any other program fails the CLI with one line naming PORT, and a non-zero exit', async () => {
  // Not a relay and not Bun: a plain listener without SO_REUSEPORT.
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  try {
    const port = String((holder.address() as { port: number }).port)
    const env = {
      PATH: process.env.PATH ?? '',
      ...testEnv(join(dir, 'cli'), llm, { PORT: port, LOG_LEVEL: 'info' }),
    }
    const { code, out, err } = await runCommand([process.execPath, MAIN], { cwd: dir, env })
    expect(code).not.toBe(0)
    expect(out).not.toContain('llm-relay started')
    const lines = err.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`PORT=${port}`)
    expect(lines[0]).toStartWith('llm-relay: ')
  } finally {
    holder.close()
  }
})

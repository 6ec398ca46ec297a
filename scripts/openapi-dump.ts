/**
 * Writes the OpenAPI document the relay serves at /swagger/json to a file (or stdout), for
 * the tools that judge it: `bun run openapi:dump [file]`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../src/config/config.ts'
import { createLogger } from '../src/log.ts'
import { startRelay } from '../src/main.ts'

/** The document of a relay started on a temp database and a free loopback port. */
export async function dumpOpenApiDocument(): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-relay-openapi-'))
  try {
    const config = parseConfig({
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      HOST: '127.0.0.1',
      PORT: '0',
      RELAY_ROLE: 'api',
      LOG_LEVEL: 'silent',
    })
    const relay = await startRelay(config, { logger: createLogger('silent') })
    try {
      const response = await fetch(`${relay.url}/swagger/json`)
      if (!response.ok) throw new Error(`/swagger/json answered ${response.status}`)
      return await response.json()
    } finally {
      await relay.stop()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const text = `${JSON.stringify(await dumpOpenApiDocument(), null, 2)}\n`
  const out = process.argv[2]
  if (out) await Bun.write(out, text)
  else process.stdout.write(text)
  // The relay's housekeeping schedule would keep the process alive.
  process.exit(0)
}

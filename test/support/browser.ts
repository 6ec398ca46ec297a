import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium } from 'playwright-core'

/** Debian's chromium: `.ci/run` installs it when missing (apt-get install chromium). */
export const CHROMIUM = '/usr/bin/chromium'

/**
 * Whether the browser tests can run here. Without chromium they skip with one line, except
 * under CI, where a missing browser is a failure of the setup, not a reason to skip.
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true
  if (process.env.CI === 'true' || process.env.CI === '1')
    throw new Error(`${CHROMIUM} is missing, and CI is set: .ci/run must install chromium`)
  process.stderr.write(
    `skipping the browser tests: ${CHROMIUM} is not installed (apt-get install chromium)\n`,
  )
  return false
}

export interface TestBrowser {
  context: BrowserContext
  close(): Promise<void>
}

/**
 * A headless chromium with a new empty profile, kept off the network: it may only reach the
 * relay the test started on 127.0.0.1.
 */
export async function openBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'llm-relay-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1360, height: 900 },
    deviceScaleFactor: 1,
  })
  // Anything but loopback is refused before it leaves the browser.
  await context.route(
    (url) => url.hostname !== '127.0.0.1',
    (route) => route.abort('blockedbyclient'),
  )
  return {
    context,
    async close() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

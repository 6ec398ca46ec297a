import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Page } from 'playwright-core'
import { browserAvailable, openBrowser, type TestBrowser } from '../support/browser.ts'
import { startTestRelay, type TestRelay } from '../support/relay.ts'

/*
 * The console in a real browser (Debian's chromium, headless), against a real relay with a
 * fake LLM and a callback sink: what an operator clicks, and what an attacker tries.
 */

const ALICE = 'alice-key-0123456789abcdef'
const BOB = 'bob-key-0123456789abcdefgh'
const XSS = '<img src=x onerror=alert(1)>'
const WAIT = 20_000

const available = browserAvailable()

let relay: TestRelay
let browser: TestBrowser

async function send(key: string, message: string, conversation: string): Promise<string> {
  const response = await relay.post(
    { message, conversation_id: conversation, callback_url: `${relay.sink.url}/hook` },
    { authorization: `Bearer ${key}` },
  )
  expect(response.status).toBe(202)
  return ((await response.json()) as { id: string }).id
}

async function statusOf(id: string, key: string): Promise<string> {
  const response = await fetch(`${relay.url}/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } })
  return ((await response.json()) as { status: string }).status
}

async function until(id: string, key: string, status: string): Promise<void> {
  const deadline = Date.now() + WAIT
  while ((await statusOf(id, key)) !== status) {
    if (Date.now() > deadline) throw new Error(`job ${id} never became ${status}`)
    await Bun.sleep(20)
  }
}

/** A fresh page that records every dialog and every error the console prints (CSP violations among them). */
async function watchedPage(): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
  const page = await browser.context.newPage()
  const dialogs: string[] = []
  const errors: string[] = []
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`)
    // The console asks before it cancels or forgets: say yes. Anything else (an alert) is recorded.
    void (dialog.type() === 'confirm' ? dialog.accept() : dialog.dismiss())
  })
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  return { page, dialogs, errors }
}

/** Signs in afresh: the profile is shared by the tests, so the last one's session goes first. */
async function signIn(page: Page, key: string): Promise<void> {
  await browser.context.clearCookies()
  await page.goto(`${relay.url}/console/sign-in`)
  await page.fill('input[name=key]', key)
  await Promise.all([page.waitForURL(/\/console(\/jobs)?$/), page.click('button[type=submit]')])
}

describe.skipIf(!available)('the console in a browser', () => {
  beforeAll(async () => {
    relay = await startTestRelay({
      API_KEYS: `alice:${ALICE},bob:${BOB}`,
      CALLBACK_RETRY_SCHEDULE: '20ms,20ms',
    })
    browser = await openBrowser()
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await relay?.close()
  })

  test(
    'sign in, filter to dead jobs, open one, press Redeliver and watch it get delivered',
    async () => {
      relay.sink.fail(500)
      const id = await send(ALICE, 'Where is my order #2290?', 'customer-91')
      await until(id, ALICE, 'dead')
      relay.sink.recover()
      const { page, errors } = await watchedPage()
      await signIn(page, ALICE)
      await page.click('nav.tabs a:has-text("Dead")')
      await page.waitForURL(/status=dead/)
      await page.click(`a[href="/console/jobs/${id}"] >> nth=0`)
      await page.waitForURL(new RegExp(`/console/jobs/${id}$`))
      expect(await page.textContent('.page-head .badge')).toBe('dead')
      await Promise.all([page.waitForURL(/done=redelivered/), page.click('button:has-text("Redeliver")')])
      expect(await page.textContent('.notice')).toContain('Scheduled for redelivery')
      // No reload: htmx polls the job while it can still change.
      await page.locator('.page-head .badge', { hasText: 'delivered' }).waitFor({ timeout: WAIT })
      expect(await page.locator('.timeline li', { hasText: 'Delivered' }).count()).toBe(1)
      expect(await statusOf(id, ALICE)).toBe('delivered')
      expect(errors).toEqual([])
    },
    WAIT * 2,
  )

  test(
    'cancel a job waiting on a slow LLM: it ends cancelled, sends nothing, and the next message goes on',
    async () => {
      const held = relay.llm.hold()
      try {
        const slow = await send(ALICE, 'a question the LLM takes its time over', 'slow-line')
        const next = await send(ALICE, 'the next question in that line', 'slow-line')
        await held.received
        await until(slow, ALICE, 'processing')
        const { page, dialogs, errors } = await watchedPage()
        await signIn(page, ALICE)
        await page.goto(`${relay.url}/console/jobs/${slow}`)
        expect(await page.textContent('.page-head .badge')).toBe('processing')
        await Promise.all([page.waitForURL(/done=cancelled/), page.click('button:has-text("Cancel")')])
        expect(dialogs).toEqual([expect.stringMatching(/^confirm: Cancel this job\?/)])
        expect(await page.textContent('.notice')).toContain('Cancelled')
        expect(await page.textContent('.page-head .badge')).toBe('cancelled')
        expect(await page.locator('button:has-text("Cancel")').count()).toBe(0)
        await until(next, ALICE, 'delivered')
        expect(await statusOf(slow, ALICE)).toBe('cancelled')
        expect(relay.sink.forJob(slow)).toEqual([])
        expect(errors).toEqual([])
      } finally {
        held.release()
      }
    },
    WAIT * 2,
  )

  test(
    'a message of markup shows as text and runs nothing, under a strict CSP',
    async () => {
      const id = await send(ALICE, XSS, 'xss-probe')
      await until(id, ALICE, 'delivered')
      const { page, dialogs, errors } = await watchedPage()
      await signIn(page, ALICE)
      for (const path of [`/console/jobs/${id}`, '/console/jobs', '/console/conversations/xss-probe']) {
        const response = await page.goto(`${relay.url}${path}`)
        const csp = response?.headers()['content-security-policy'] ?? ''
        expect(csp).toContain("script-src 'self'")
        expect(csp).toContain("frame-ancestors 'none'")
        await page.waitForLoadState('networkidle')
        expect(await page.locator('img').count()).toBe(0)
        expect(await page.locator(`text=${XSS}`).count()).toBeGreaterThan(0)
      }
      expect(dialogs).toEqual([])
      expect(errors).toEqual([])
    },
    WAIT * 2,
  )

  test(
    'a new job shows up in the open list by itself (htmx polling under the CSP)',
    async () => {
      const { page, errors } = await watchedPage()
      await signIn(page, ALICE)
      await page.goto(`${relay.url}/console/jobs`)
      const id = await send(ALICE, 'a job sent while the list is open', 'live-list')
      await page.locator(`a[href="/console/jobs/${id}"]`).first().waitFor({ timeout: WAIT })
      expect(errors).toEqual([])
    },
    WAIT * 2,
  )

  test(
    'a form posted from another origin, without the token, is refused and changes nothing',
    async () => {
      const id = await send(ALICE, 'please do not redeliver me', 'csrf-probe')
      await until(id, ALICE, 'delivered')
      const callbacks = relay.sink.forJob(id).length
      // The attacker's page: another port of the same host (the same site, so SameSite alone would not stop it).
      const attacker = Bun.serve({
        hostname: '127.0.0.1',
        port: 0,
        fetch: () =>
          new Response(
            `<form method="post" action="${relay.url}/console/jobs/${id}/redeliver"><input name="_csrf" value="forged"></form><script>document.forms[0].submit()</script>`,
            { headers: { 'content-type': 'text/html' } },
          ),
      })
      try {
        const { page } = await watchedPage()
        await signIn(page, ALICE)
        const refused = page.waitForResponse((r) => r.url().endsWith(`/console/jobs/${id}/redeliver`))
        await page.goto(`http://127.0.0.1:${attacker.port}/`)
        expect((await refused).status()).toBe(403)
        // And a script on the console's own origin without the token fares no better.
        await page.goto(`${relay.url}/console/jobs/${id}`)
        const status = await page.evaluate(
          async (path) =>
            (
              await fetch(path, {
                method: 'POST',
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                body: 'x=1',
              })
            ).status,
          `/console/jobs/${id}/redeliver`,
        )
        expect(status).toBe(403)
        expect(await statusOf(id, ALICE)).toBe('delivered')
        expect(relay.sink.forJob(id).length).toBe(callbacks)
      } finally {
        attacker.stop(true)
      }
    },
    WAIT * 2,
  )

  test(
    "a client key sees only its own jobs, and another's job is not found",
    async () => {
      const alices = await send(ALICE, 'alice’s private question', 'alice-only')
      const bobs = await send(BOB, 'bob’s private question', 'bob-only')
      const { page } = await watchedPage()
      await signIn(page, BOB)
      await page.goto(`${relay.url}/console/jobs`)
      expect(await page.locator(`a[href="/console/jobs/${bobs}"]`).count()).toBeGreaterThan(0)
      expect(await page.locator(`a[href="/console/jobs/${alices}"]`).count()).toBe(0)
      expect(await page.content()).not.toContain('alice’s private question')
      const response = await page.goto(`${relay.url}/console/jobs/${alices}`)
      expect(response?.status()).toBe(404)
      expect(await page.textContent('h1')).toBe('Not found')
    },
    WAIT * 2,
  )
})

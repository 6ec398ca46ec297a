/** @jsxImportSource @kitajs/html */
import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { Glob } from 'bun'
import { ConversationListPage, ConversationPage } from '../../src/console/pages/conversations.tsx'
import { JobLive, JobPage } from '../../src/console/pages/job.tsx'
import { JobListPage, JobRows } from '../../src/console/pages/jobs.tsx'
import { Layout } from '../../src/console/pages/layout.tsx'
import { MessagePage } from '../../src/console/pages/message.tsx'
import { OverviewPage } from '../../src/console/pages/overview.tsx'
import { SignInPage } from '../../src/console/pages/sign-in.tsx'
import type {
  Chrome,
  ConversationListView,
  ConversationPageView,
  JobListView,
  JobPageView,
  JobRow,
  OverviewView,
} from '../../src/console/views.ts'

/*
 * Every string a page is given is replaced by markup; rendered, none of it may come out as
 * markup. The views below fill in every field, optional ones too, so a new field that a page
 * prints without `safe` fails here.
 */

const PROBE = 'x-probe'

function poison<T>(value: T, path = 'v'): T {
  if (typeof value === 'string') return `<${PROBE} id="${path}">"'&</${PROBE}>` as T
  if (Array.isArray(value)) return value.map((v, i) => poison(v, `${path}.${i}`)) as T
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, poison(v, `${path}.${k}`)])) as T
  return value
}

const NOW = 1_800_000_000_000
const row: JobRow = {
  id: '01a23106-5390-77b4-8f20-5fe80b695420',
  href: '/console/jobs/x',
  status: 'dead',
  tone: 'fail',
  conversationId: 'customer-91',
  conversationHref: '/console/conversations/customer-91',
  owner: 'acme',
  message: 'Where is my order?',
  model: 'fake/model',
  errorCode: 'callback_http_status',
  llmAttempts: 1,
  deliveryAttempts: 3,
  createdAt: NOW - 5000,
  updatedAt: NOW - 1000,
}
const chrome: Chrome = {
  title: 'Jobs',
  section: 'jobs',
  nav: [{ label: 'Jobs', href: '/console/jobs', active: true }],
  viewer: 'ops · admin',
  open: true,
  signedIn: true,
  csrf: 'token',
  notice: { tone: 'ok', text: 'Scheduled for redelivery.' },
  version: '0.1.0',
  docsHref: '/swagger',
}
const overview: OverviewView = {
  now: NOW,
  open: [{ label: 'Queued', count: 3, href: '/console/jobs?status=queued', tone: 'wait' }],
  openTotal: 3,
  recentSince: NOW - 3_600_000,
  recent: [{ label: 'Dead', count: 1, href: '/console/dead', tone: 'fail' }],
  llmErrors: [{ code: 'llm_auth', description: 'The LLM API refused the key.', count: 2 }],
  budget: { state: 'paused', tone: 'fail', text: 'A quota ran out.', until: NOW + 60_000 },
  deadLetters: [row],
  livePath: '/console/overview/live',
}
const list: JobListView = {
  now: NOW,
  heading: 'Dead letters',
  intro: 'Jobs whose callback failed.',
  tabs: [{ label: 'Queued', href: '/console/jobs?status=queued', active: true, count: 3, tone: 'wait' }],
  filter: {
    action: '/console/jobs',
    statuses: ['queued'],
    conversationId: 'customer-91',
    q: 'order',
    createdAfter: '2026-12-01T09:00',
    createdBefore: '2026-12-02T09:00',
  },
  rows: [row],
  showOwner: true,
  livePath: '/console/jobs/rows',
  newerHref: '/console/jobs',
  olderHref: '/console/jobs?cursor=1-2',
  bulk: { action: '/console/dead/redeliver', ids: [row.id], label: 'Redeliver all shown (1)' },
  empty: 'No jobs.',
}
const job: JobPageView = {
  now: NOW,
  id: row.id,
  status: 'dead',
  tone: 'fail',
  owner: 'acme',
  conversationId: 'customer-91',
  conversationHref: '/console/conversations/customer-91',
  sequence: 1,
  message: 'Where is my order?',
  response: 'On its way.',
  error: { code: 'llm_auth', message: 'invalid key', description: 'The LLM API refused the key.' },
  model: 'fake/model',
  usage: { prompt: 10, completion: 5, total: 15 },
  metadata: '{"ticket": "T-1"}',
  callbackUrl: 'https://hooks.example.com/x',
  createdAt: NOW - 5000,
  updatedAt: NOW - 1000,
  completedAt: NOW - 1000,
  timeline: [
    {
      at: NOW - 3000,
      tone: 'fail',
      title: 'Callback attempt 1',
      detail: 'HTTP 500',
      error: { code: 'callback_http_status', message: 'The callback answered 500.' },
    },
  ],
  actions: { redeliver: '/console/jobs/x/redeliver', cancel: '/console/jobs/x/cancel' },
  livePath: '/console/jobs/x/live',
}
const conversation: ConversationPageView = {
  now: NOW,
  id: 'customer-91',
  owner: 'acme',
  messages: [{ role: 'user', content: 'Hi', jobId: row.id, jobHref: '/console/jobs/x', at: NOW - 5000 }],
  jobsHref: '/console/jobs?conversation_id=customer-91',
  forgetAction: '/console/conversations/customer-91/forget',
}
const conversations: ConversationListView = {
  now: NOW,
  rows: [
    {
      id: 'customer-91',
      href: '/console/conversations/customer-91',
      owner: 'acme',
      messages: 2,
      openJobs: 1,
      lastMessageAt: NOW,
    },
  ],
  showOwner: true,
  olderHref: '/console/conversations?cursor=x',
  newerHref: '/console/conversations',
  empty: 'None.',
}

const pages: Record<string, () => JSX.Element> = {
  layout: () => (
    <Layout chrome={poison(chrome)} assets={poison({ css: '/a.css', js: '/a.js' })}>
      {''}
    </Layout>
  ),
  overview: () => <OverviewPage view={poison(overview)} />,
  'jobs list': () => <JobListPage view={poison(list)} csrf={poison('token')} />,
  'empty jobs list': () => <JobRows view={poison({ ...list, rows: [] })} />,
  job: () => <JobPage view={poison(job)} csrf={poison('token')} />,
  'job, live part': () => <JobLive view={poison(job)} csrf={poison('token')} />,
  conversation: () => <ConversationPage view={poison(conversation)} csrf={poison('token')} />,
  conversations: () => <ConversationListPage view={poison(conversations)} />,
  'empty conversations': () => <ConversationListPage view={poison({ ...conversations, rows: [] })} />,
  'sign-in': () => (
    <SignInPage view={poison({ failed: true, action: '/console/sign-in' })} csrf={poison('t')} />
  ),
  message: () => (
    <MessagePage
      view={poison({ heading: 'Not found', text: 'No job.', back: { href: '/', label: 'Back' } })}
    />
  ),
}

for (const [name, render] of Object.entries(pages)) {
  test(`${name}: every string it is given comes out as text, never as markup`, () => {
    const html = render() as string
    // Inside a double-quoted attribute value only `"` could end it, and that is escaped (&#34;).
    const text = html.replace(/="[^"]*"/g, '=""')
    expect(text).not.toContain(`<${PROBE}`)
    // The sign-in page is given no text, only a form action and a token (attributes).
    if (name !== 'sign-in') expect(text).toContain(`&lt;${PROBE}`)
    expect(html).not.toMatch(/="[^"]*"[^\s>/]/)
  })
}

const templates = async (): Promise<[string, string][]> => {
  const root = join(import.meta.dir, '..', '..', 'src', 'console')
  const out: [string, string][] = []
  for await (const path of new Glob('**/*.tsx').scan(root))
    out.push([path, await Bun.file(join(root, path)).text()])
  return out
}

test('the templates have no way around escaping and nothing the CSP forbids', async () => {
  const found = await templates()
  expect(found.length).toBeGreaterThan(5)
  for (const [path, text] of found) {
    const banned = [
      /dangerouslySetInnerHTML|innerHTML/, // raw HTML
      /\bstyle=/, // inline style (the CSP allows none)
      /<script(?![^>]*\bsrc=)[^>]*>/, // inline script (a script without src)
      /\son[a-z]+=/, // inline event handlers
      /hx-on|hx-vals=\{?['"`]js:|javascript:/, // htmx's eval paths
    ]
    for (const pattern of banned)
      expect({ path, found: pattern.exec(text)?.[0] }).toEqual({ path, found: undefined })
  }
})

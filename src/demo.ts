/**
 * `bun run demo [message]`: the first five minutes. Starts a relay in this process on a
 * temporary SQLite database with a callback receiver beside it, sends one message and tells
 * what happens as it happens, until the callback arrives. Like main.ts it is an entry point,
 * so it reads the environment (and Bun's .env) once, here.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Config, ConfigError, parseConfig } from './config/config.ts'
import { processEnvironment } from './config/environment.ts'
import { createLogger, prettyLine } from './log.ts'
import { type Relay, startRelay } from './main.ts'

const DEFAULT_MESSAGE = 'Hello! In one sentence, what is llm-relay?'
const TIMEOUT_MS = 120_000
const POLL_MS = 200
const KEY_URL = 'https://openrouter.ai/keys'

// Start-up warnings the demo causes on purpose and explains itself.
const EXPECTED_WARNINGS = ['no LLM_API_KEY', 'ALLOW_PRIVATE_CALLBACK_URLS is on', 'API_KEYS is empty']

const colour = process.stdout.isTTY === true && !processEnvironment().NO_COLOR
const style = (code: string) => (text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text)
const bold = style('1')
const dim = style('2')
const green = style('32')
const red = style('31')
const yellow = style('33')

const say = (...lines: string[]): void => {
  process.stdout.write(`${lines.join('\n')}\n`)
}
const indent = (text: string, by = '    '): string =>
  text
    .split('\n')
    .map((line) => by + line)
    .join('\n')

interface Callback {
  at: number
  headers: Headers
  body: {
    type: string
    data: {
      id: string
      sequence: number
      response: string | null
      error: { code: string; message: string } | null
      model: string
      usage: { prompt_tokens: number; completion_tokens: number } | null
    }
  }
}

interface JobView {
  status: string
  model: string
  error: { code: string; message: string } | null
  response: string | null
  attempts: { llm: number; delivery: number }
}

/** The built-in receiver: resolves `arrived` with the first callback, answers every one 200. */
function startReceiver() {
  let resolve: (callback: Callback) => void = () => {}
  const arrived = new Promise<Callback>((r) => {
    resolve = r
  })
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      const raw = await request.text()
      try {
        resolve({ at: Date.now(), headers: request.headers, body: JSON.parse(raw) as Callback['body'] })
      } catch {
        say(red(`the receiver got a body that is not JSON: ${raw.slice(0, 200)}`))
      }
      return new Response('ok')
    },
  })
  return { url: `http://127.0.0.1:${server.port}/callback`, arrived, stop: () => server.stop(true) }
}

/** The relay's own warnings and errors, readable, minus what the demo narrates itself. */
function demoLogger(config: Config) {
  return createLogger(config.logLevel, {
    write(line: string) {
      let entry: { msg?: string; job_id?: string }
      try {
        entry = JSON.parse(line) as typeof entry
      } catch {
        entry = {}
      }
      if (entry.job_id !== undefined) return
      if (EXPECTED_WARNINGS.some((w) => entry.msg?.startsWith(w))) return
      process.stdout.write(dim(`  relay log: ${prettyLine(line, false)}`))
    },
  })
}

function describeStatus(job: JobView): string {
  switch (job.status) {
    case 'queued':
      return job.error
        ? yellow(`waiting to try again after ${job.error.code}: ${job.error.message}`)
        : 'waiting its turn'
    case 'processing':
      return `asking ${job.model} (LLM attempt ${job.attempts.llm})`
    case 'delivering':
      return job.response !== null
        ? 'answer stored; sending the callback'
        : `failed with ${job.error?.code}; sending the job.failed callback`
    case 'delivered':
      return 'the callback was answered with 2xx'
    case 'dead':
      return red('every callback attempt failed')
    default:
      return ''
  }
}

function showCallback(callback: Callback, started: number): void {
  const { type, data } = callback.body
  const seconds = ((callback.at - started) / 1000).toFixed(1)
  const signature = callback.headers.get('webhook-signature')
  say(
    '',
    `${bold('← callback')}  ${type === 'job.completed' ? green(type) : red(type)}  ${dim(`+${seconds}s`)}`,
    `    webhook-id         ${callback.headers.get('webhook-id')} ${dim('(the job id, the same on every retry)')}`,
    `    webhook-signature  ${signature ? `${signature.slice(0, 20)}…` : dim('none: set CALLBACK_SECRET to sign callbacks')}`,
    `    sequence           ${data.sequence}`,
    '',
  )
  if (data.response !== null) {
    say(bold(`  Answer from ${data.model}:`), '', indent(data.response.trim()))
    if (data.usage)
      say(
        '',
        dim(`    ${data.usage.prompt_tokens} prompt + ${data.usage.completion_tokens} completion tokens`),
      )
  } else if (data.error) {
    say(`  ${red(bold(data.error.code))}: ${data.error.message}`)
  }
  say('')
}

function keyHint(): string[] {
  return [
    `  Get a free OpenRouter key at ${bold(KEY_URL)}, then run`,
    `    OPENROUTER_API_KEY=sk-or-… bun run demo`,
    '  (or put LLM_API_KEY=… in .env; any OpenAI-compatible API works through LLM_BASE_URL).',
  ]
}

async function readJob(relay: Relay, id: string): Promise<JobView | undefined> {
  const response = await fetch(`${relay.url}/jobs/${id}`).catch(() => undefined)
  return response?.ok ? ((await response.json()) as JobView) : undefined
}

async function main(): Promise<number> {
  const message = process.argv.slice(2).join(' ').trim() || DEFAULT_MESSAGE
  const dir = mkdtempSync(join(tmpdir(), 'llm-relay-demo-'))
  const receiver = startReceiver()
  let relay: Relay | undefined
  try {
    let config: Config
    try {
      config = parseConfig({
        ...processEnvironment(),
        DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
        HOST: '127.0.0.1',
        PORT: '0',
        // The receiver is on 127.0.0.1, which the callback guard refuses unless told otherwise.
        ALLOW_PRIVATE_CALLBACK_URLS: 'true',
        CALLBACK_ALLOWED_HOSTS: '',
        API_KEYS: '',
        LOG_LEVEL: 'warn',
        SHUTDOWN_TIMEOUT: '1s',
      })
    } catch (error) {
      if (error instanceof ConfigError) {
        say(red(`llm-relay demo: ${error.message}`))
        return 1
      }
      throw error
    }

    say(
      bold('llm-relay demo'),
      dim(`  database  ${join(dir, 'relay.db')} (temporary)`),
      dim(`  receiver  ${receiver.url}`),
      dim(`  LLM       ${config.llmModel} at ${config.llmBaseUrl}`),
    )
    if (!config.llmApiKey)
      say(
        '',
        yellow('  No LLM key is set (OPENROUTER_API_KEY or LLM_API_KEY): the message will fail with'),
        yellow('  llm_auth. You will see the job.failed callback your endpoint would get, and how to'),
        yellow('  get a free key.'),
      )

    const running = await startRelay(config, { logger: demoLogger(config) })
    relay = running
    say(dim(`  relay     ${running.url}`), '', `${bold('→ POST /webhook')}  ${JSON.stringify(message)}`)
    const started = Date.now()
    const accepted = await fetch(`${running.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message, callback_url: receiver.url, conversation_id: 'demo' }),
    })
    if (accepted.status !== 202) {
      say(red(`  the relay answered ${accepted.status}: ${await accepted.text()}`))
      return 1
    }
    const { id } = (await accepted.json()) as { id: string }
    say(`${bold('← 202 Accepted')}  job ${id} is committed: it will be answered and delivered`, '')

    let last = ''
    const follow = async (): Promise<JobView | undefined> => {
      const job = await readJob(running, id)
      const line = job ? `${job.status} ${job.error?.code ?? ''} ${job.attempts.llm}` : ''
      if (job && line !== last) {
        last = line
        const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(5)
        say(`  ${dim(`${seconds}s`)}  ${job.status.padEnd(10)}  ${describeStatus(job)}`)
      }
      return job
    }

    let callback: Callback | undefined
    receiver.arrived.then((c) => {
      callback = c
    })
    const deadline = started + TIMEOUT_MS
    while (callback === undefined && !stopRequested && Date.now() < deadline) {
      await follow()
      await Promise.race([receiver.arrived, interrupted, Bun.sleep(POLL_MS)])
    }
    if (stopRequested) {
      say('', yellow('  Interrupted; stopping the relay.'))
      return 130
    }
    if (callback === undefined) {
      const job = await readJob(running, id)
      say(
        '',
        red(`  No callback within ${TIMEOUT_MS / 1000} s; the job is ${job?.status ?? 'unknown'}.`),
        ...(job?.error ? [`  Its last error: ${job.error.code}: ${job.error.message}`] : []),
        '  A relay that keeps running would keep trying; the demo stops here.',
      )
      return 1
    }
    showCallback(callback, started)
    // The receiver answered 200; the relay records the delivery a moment later.
    for (let i = 0; i < 10 && (await follow())?.status !== 'delivered'; i++) await Bun.sleep(POLL_MS)
    say(
      '',
      dim('  The callback body, as your endpoint receives it:'),
      dim(indent(JSON.stringify(callback.body, null, 2))),
    )
    if (callback.body.data.error?.code === 'llm_auth') say('', ...keyHint())
    say('', dim('  Next: `bun run start` serves the relay on :3000; README.md walks through it with curl.'))
    return 0
  } finally {
    await relay?.stop()
    receiver.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

// Ctrl-C ends the wait and still stops the relay and removes the temporary database.
let stopRequested = false
let interrupt: () => void = () => {}
const interrupted = new Promise<void>((resolve) => {
  interrupt = resolve
})
process.once('SIGINT', () => {
  stopRequested = true
  interrupt()
})

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`llm-relay demo: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  },
)

/**
 * `bun run demo [message]`: the first five minutes. Starts a relay in this process on a
 * temporary SQLite database with a callback receiver beside it, sends one message and tells
 * what happens as it happens, until the callback arrives. It follows the job by the relay's
 * own log lines (the `outcome` of each transition, docs/operations.md "Logs"), so it never
 * polls the API and nothing it does counts against a rate limit. Like main.ts it is an entry
 * point, so it reads the environment (and Bun's .env) once, here.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Config, ConfigError, parseConfig } from '../src/config/config.ts'
import { processEnvironment } from '../src/config/environment.ts'
import type { ResultPayload } from '../src/contract/callback-payload.ts'
import { createLogger, prettyLine } from '../src/log.ts'
import { type Relay, startRelay } from '../src/main.ts'

const DEFAULT_MESSAGE = 'Hello! In one sentence, what is llm-relay?'
const TIMEOUT_MS = 120_000
const KEY_URL = 'https://openrouter.ai/keys'

// Start-up warnings the demo causes on purpose and explains itself.
const EXPECTED_WARNINGS = ['no LLM_API_KEY', 'ALLOW_PRIVATE_CALLBACK_URLS is on', 'API_KEYS is empty']

const env = processEnvironment()
const colour = process.stdout.isTTY === true && !env.NO_COLOR
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

/**
 * How to run a project command the way this demo was run: through npx (the quickstart's way,
 * when bun is not on PATH), or with bun itself.
 */
function command(script: string): string {
  const viaNpm = (env.npm_config_user_agent ?? '').startsWith('npm/') || Bun.which('bun') === null
  return viaNpm ? `npx -y bun@${Bun.version} run ${script}` : `bun run ${script}`
}

interface Callback {
  at: number
  headers: Headers
  body: ResultPayload
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
        resolve({ at: Date.now(), headers: request.headers, body: JSON.parse(raw) as ResultPayload })
      } catch {
        say(red(`the receiver got a body that is not JSON: ${raw.slice(0, 200)}`))
      }
      return new Response('ok')
    },
  })
  return { url: `http://127.0.0.1:${server.port}/callback`, arrived, stop: () => server.stop(true) }
}

/** One transition of the job, as the relay logs it. */
interface JobEvent {
  outcome: string
  level?: string
  msg?: string
  stage?: string
  attempt?: number
  code?: string
  model?: string
  ms?: number
  retry_at?: string
  status_code?: number | null
}

const sentence = (text = ''): string => (/[.!?]$/.test(text) ? text : `${text}.`)

/** What the job is doing, in a line, from one of its log lines; undefined for lines not worth one. */
function narrate(event: JobEvent, model: string, failed: boolean): string | undefined {
  switch (event.outcome) {
    case 'claimed':
      return event.stage === 'llm'
        ? `asking ${model} (LLM attempt ${event.attempt})`
        : `sending the callback (attempt ${event.attempt})`
    case 'answered':
      return green(`answered by ${event.model} in ${event.ms} ms; the answer is stored`)
    case 'llm_retry':
      return yellow(
        `${event.code}: ${sentence(event.msg)} Trying again at ${event.retry_at?.slice(11, 19)} UTC.`,
      )
    case 'failed':
      return red(`${event.code}: ${sentence(event.msg)} The job failed; its job.failed callback goes out.`)
    case 'delivered':
      return failed
        ? `the receiver answered ${event.status_code}: the job.failed callback is delivered`
        : `the receiver answered ${event.status_code}: delivered`
    case 'delivering':
      return yellow(`${sentence(event.msg)} The callback is tried again later.`)
    case 'dead':
      return red(`${sentence(event.msg)} Every callback attempt failed: the job is dead.`)
    case 'lease_lost':
      return yellow(`${event.msg}`)
    default:
      return undefined
  }
}

/**
 * The relay's log, split: the job's own lines become events for the narration; warnings and
 * errors of the relay are shown as they are, minus what the demo explains itself.
 */
function demoLogger(config: Config, onEvent: (event: JobEvent) => void) {
  return createLogger('debug', {
    write(line: string) {
      let entry: JobEvent & { job_id?: string }
      try {
        entry = JSON.parse(line) as typeof entry
      } catch {
        entry = { outcome: '' }
      }
      if (entry.job_id !== undefined && entry.outcome !== undefined) return onEvent(entry)
      if (entry.level !== 'warn' && entry.level !== 'error' && entry.level !== 'fatal') return
      if (EXPECTED_WARNINGS.some((w) => entry.msg?.startsWith(w))) return
      if (config.logLevel === 'silent') return
      process.stdout.write(dim(`  relay log: ${prettyLine(line, false)}`))
    },
  })
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
    `    OPENROUTER_API_KEY=sk-or-… ${command('demo')}`,
    '  (or put LLM_API_KEY=… in .env; any OpenAI-compatible API works through LLM_BASE_URL).',
  ]
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
        ...env,
        DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
        HOST: '127.0.0.1',
        PORT: '0',
        // The receiver is on 127.0.0.1, which the callback guard refuses unless told otherwise.
        ALLOW_PRIVATE_CALLBACK_URLS: 'true',
        CALLBACK_ALLOWED_HOSTS: '',
        API_KEYS: '',
        // A relay of the demo's own, asked once: no limit to wait for.
        RATE_LIMIT_MAX: '0',
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

    let started = Date.now()
    let jobId: string | undefined
    let delivered: () => void = () => {}
    const recorded = new Promise<void>((resolve) => {
      delivered = resolve
    })
    const early: JobEvent[] = []
    let failedSeen = false
    const onEvent = (event: JobEvent & { job_id?: string }) => {
      // The worker may log the job before the 202 is read here.
      if (jobId === undefined) return void early.push(event)
      if (event.job_id !== jobId) return
      if (event.outcome === 'failed') failedSeen = true
      const line = narrate(event, config.llmModel, failedSeen)
      const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(5)
      if (line) say(`  ${dim(`${seconds}s`)}  ${line}`)
      if (event.outcome === 'delivered' || event.outcome === 'dead') delivered()
    }

    const running = await startRelay(config, { logger: demoLogger(config, onEvent) })
    relay = running
    say(dim(`  relay     ${running.url}`), '', `${bold('→ POST /webhook')}  ${JSON.stringify(message)}`)
    started = Date.now()
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
    jobId = id
    for (const event of early.splice(0)) onEvent(event)

    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), TIMEOUT_MS)
    })
    const callback = await Promise.race([receiver.arrived, interrupted, timedOut])
    clearTimeout(timer)
    if (stopRequested) {
      say('', yellow('  Interrupted; stopping the relay.'))
      return 130
    }
    if (callback === 'timeout' || callback === undefined) {
      // One look at the job, to say where it stands.
      const job = (await (await fetch(`${running.url}/jobs/${id}`)).json()) as {
        status?: string
        error?: { code: string; message: string } | null
      }
      say(
        '',
        red(`  No callback within ${TIMEOUT_MS / 1000} s; the job is ${job.status ?? 'unknown'}.`),
        ...(job.error ? [`  Its last error: ${job.error.code}: ${job.error.message}`] : []),
        '  A relay that keeps running would keep trying; the demo stops here.',
      )
      return 1
    }
    showCallback(callback, started)
    // The receiver answered 200; the relay records the delivery a moment later.
    await Promise.race([recorded, Bun.sleep(5000)])
    say(
      '',
      dim('  The callback body, as your endpoint receives it:'),
      dim(indent(JSON.stringify(callback.body, null, 2))),
    )
    const failed = callback.body.type === 'job.failed'
    if (failed) {
      const error = callback.body.data.error
      say('', red(bold(`  The job failed: ${error?.code}: ${error?.message}`)))
      say(dim('  (its job.failed callback was delivered: that is what your endpoint gets for a failure)'))
      if (error?.code === 'llm_auth') say('', ...keyHint())
    } else {
      say('', green(bold('  Answered and delivered.')))
    }
    say(
      '',
      dim(`  Next: \`${command('start')}\` serves the relay on :3000; README.md walks through it with curl.`),
    )
    return failed ? 1 : 0
  } finally {
    await relay?.stop()
    receiver.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

// Ctrl-C ends the wait and still stops the relay and removes the temporary database.
let stopRequested = false
let interrupt: () => void = () => {}
const interrupted = new Promise<undefined>((resolve) => {
  interrupt = () => resolve(undefined)
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

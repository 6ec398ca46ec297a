import { Elysia } from 'elysia'
import type { Clock } from '../clock.ts'
import type { CallBudget } from '../limits/call-budget.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { CancellableStatus, Job, Store } from '../store/store.ts'
import { loadConsoleAssets } from './assets.ts'
import { createFrame } from './frame.tsx'
import { ConsoleGate } from './gate.ts'
import { ConsoleKeys, type KeySources } from './keys.ts'
import { ConsoleLists } from './lists.ts'
import { RecentCounts } from './recent-counts.ts'
import { consoleRoutes } from './routes.tsx'
import { ConsoleService, type LlmPause } from './service.ts'
import { SessionSigner } from './session.ts'
import { type SignInLimit, signInRoutes } from './sign-in-routes.tsx'

export interface ConsoleOptions {
  store: Store
  metrics: RelayMetrics
  clock: Clock
  wake: () => void
  /** A job was cancelled from the console: the relay stops a run of it, counts it, wakes the next in line. */
  onCancelled: (job: Job, from: CancellableStatus) => void
  budget: CallBudget | undefined
  /** The LLM rate-limit pauses in force (the worker's: a model's on this instance, the account's fleet-wide). */
  pauses: () => readonly LlmPause[]
  llmMaxRpm: number
  /** CONSOLE_SESSION_SECRET; unset, a random one for this process. */
  sessionSecret: string | undefined
  sessionTtlMs: number
  /** Who may sign in: the environment's keys and the stored clients'; none needed, the console is open. */
  keys: KeySources
  isHttps: (request: Request) => boolean
  addressOf: (request: Request) => string
  /** The API's failed-key limit: a wrong key at sign-in counts as a wrong key at the API. */
  failedSignIns: SignInLimit
  version: string
  docsEnabled: boolean
}

/** What the composition root hands the console beside what the HTTP app has anyway. */
export type ConsoleWiring = Pick<
  ConsoleOptions,
  'clock' | 'budget' | 'pauses' | 'llmMaxRpm' | 'sessionSecret' | 'sessionTtlMs'
>

/** The operators' console at /console: its pages, sign-in and assets, built from the relay's parts. */
export function consolePlugin(o: ConsoleOptions) {
  const now = () => o.clock.now()
  const signer = new SessionSigner(o.sessionSecret, o.sessionTtlMs)
  const recent = new RecentCounts(o.metrics, o.clock)
  recent.start()
  const service = new ConsoleService({
    store: o.store,
    recent,
    budget: o.budget,
    pauses: o.pauses,
    llmMaxRpm: o.llmMaxRpm,
    now,
    wake: o.wake,
    onCancelled: o.onCancelled,
  })
  const gate = new ConsoleGate({
    signer,
    keys: new ConsoleKeys(o.keys, signer),
    now,
    isHttps: o.isHttps,
  })
  const assets = loadConsoleAssets()
  const frame = createFrame({ gate, assets, version: o.version, docsEnabled: o.docsEnabled })
  return new Elysia({ name: 'console-plugin' })
    .use(
      signInRoutes({
        frame,
        gate,
        assets: assets.byName,
        failedSignIns: o.failedSignIns,
        addressOf: o.addressOf,
        now,
      }),
    )
    .use(consoleRoutes({ frame, service, lists: new ConsoleLists(o.store, now) }))
    .onStop(() => recent.stop())
}

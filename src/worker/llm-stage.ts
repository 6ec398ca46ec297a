import type { Clock } from '../clock.ts'
import type { JobError } from '../job.ts'
import type { CallBudget } from '../limits/call-budget.ts'
import type { LlmClient } from '../llm/llm.ts'
import { buildPrompt } from '../llm/prompt.ts'
import type { Logger } from '../log.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { Job, Store } from '../store/store.ts'
import type { JobRun } from './job-run.ts'
import { type ActivePause, pauseMessage, type RateLimitPauses } from './rate-limit-pauses.ts'
import { type LlmRetryPolicy, planLlmRetry, type RateLimitPause } from './retry-policy.ts'

export interface LlmStageOptions {
  store: Store
  llm: LlmClient
  budget: CallBudget
  clock: Clock
  logger: Logger
  metrics: RelayMetrics
  pauses: RateLimitPauses
  workerId: string
  historyMaxMessages: number
  llmRetry: LlmRetryPolicy
  maxResponseChars: number
  scrub: (text: string) => string
}

/** How much of a too-long answer its error keeps, for whoever looks into it. */
const TOO_LARGE_EXCERPT = 200

const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * A job's LLM stage: the call with the conversation's history, then one of: the answer stored
 * (and joined to history), a retry scheduled, or the job failed for good.
 */
export class LlmStage {
  constructor(private readonly o: LlmStageOptions) {}

  /** The job as answered or failed (on to delivery), or undefined when it went back to the queue. */
  async answer(job: Job, run: JobRun): Promise<Job | undefined> {
    const { store, llm, clock, metrics, workerId } = this.o
    const log = this.o.logger.child({
      job_id: job.id,
      conversation_id: job.conversationId,
      attempt: job.llmAttempts,
    })
    const paused = this.o.pauses.holding(job.model, clock.now())
    if (paused) return this.waitForPause(job, run, paused, log)

    const history = await store.readHistory(job.owner, job.conversationId, this.o.historyMaxMessages)
    const started = clock.now()
    const result = await llm.complete({
      model: job.model,
      messages: buildPrompt(job.systemPrompt, history, job.message),
    })
    const now = clock.now()
    const seconds = (now - started) / 1000
    if (result.ok) {
      metrics.llmDuration.observe({ model: job.model, outcome: 'ok' }, seconds)
      const { content, model, usage } = result.answer
      if (content.length > this.o.maxResponseChars)
        return this.fail(job, run, this.tooLarge(content), now, log)
      const stored = await run.finishStage('lease lost', log, 'the answer', () =>
        store.recordAnswer(job.id, workerId, { response: content, model, usage }, now),
      )
      const answered = stored.written ? stored.value : undefined
      if (answered) log.info({ outcome: 'answered', model, ms: now - started }, 'job answered')
      else log.warn({ outcome: 'lease_lost' }, 'lease lost during the LLM call; answer dropped')
      return answered
    }

    metrics.llmDuration.observe({ model: job.model, outcome: 'error' }, seconds)
    metrics.llmErrors.inc({ code: result.failure.code, model: job.model })
    const plan = planLlmRetry(result.failure, job.llmAttempts, now, this.o.llmRetry)
    const error: JobError = { code: result.failure.code, message: this.o.scrub(result.failure.message) }
    const pause = plan.pause && (await this.pauseCalls(plan.pause, job.model))
    if (!plan.retry) return this.fail(job, run, error, now, log)
    if (pause) error.message += `; ${pauseMessage(pause)}`
    const { at, countAttempt } = plan.retry
    await run.finishStage('lease runs out', log, 'the LLM retry', () =>
      store.recordLlmRetry(job.id, workerId, error, at, countAttempt, now),
    )
    log.warn({ outcome: 'llm_retry', code: error.code, retry_at: iso(at) }, error.message)
    return undefined
  }

  /** The job failed for good: on to deliver `job.failed`; nothing joins history. */
  private async fail(
    job: Job,
    run: JobRun,
    error: JobError,
    now: number,
    log: Logger,
  ): Promise<Job | undefined> {
    const stored = await run.finishStage('lease lost', log, 'the LLM failure', () =>
      this.o.store.recordLlmFailure(job.id, this.o.workerId, error, now),
    )
    log.warn({ outcome: 'failed', code: error.code }, error.message)
    return stored.written ? stored.value : undefined
  }

  /** MAX_RESPONSE_CHARS: the answer is not kept; its beginning is, in the error, for whoever looks into it. */
  private tooLarge(content: string): JobError {
    const excerpt = Array.from(content.slice(0, TOO_LARGE_EXCERPT + 1))
      .slice(0, TOO_LARGE_EXCERPT)
      .join('')
    return {
      code: 'llm_response_too_large',
      message: `The answer had ${content.length} characters, more than MAX_RESPONSE_CHARS (${this.o.maxResponseChars}); it began: ${this.o.scrub(excerpt)}`,
    }
  }

  /** A 429 holds back what it limits: the model, in this process's memory; the account fleet-wide too. */
  private async pauseCalls(pause: RateLimitPause, model: string): Promise<ActivePause> {
    if (pause.scope === 'account')
      await this.o.budget.pauseUntil(pause.until).catch((err) => {
        this.o.logger.warn({ err }, 'the account pause could not be shared; this instance keeps it')
      })
    return this.o.pauses.pause(pause, model)
  }

  /** Claimed while its model (or the account) is paused: back to the queue until the pause ends, the attempt given back, no call. */
  private async waitForPause(job: Job, run: JobRun, pause: ActivePause, log: Logger): Promise<undefined> {
    const { store, clock, workerId } = this.o
    const now = clock.now()
    const error: JobError = { code: 'llm_rate_limited', message: pauseMessage(pause) }
    const written = run.finishStage('lease runs out', log, 'the wait for a pause', () =>
      store.recordLlmRetry(job.id, workerId, error, pause.until, false, now),
    )
    // The call budget counted a call for this job: it made none.
    await this.o.budget.giveBack(1, now).catch(() => {})
    await written
    log.info({ outcome: 'llm_paused', retry_at: iso(pause.until) }, error.message)
    return undefined
  }
}

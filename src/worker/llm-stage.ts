// Longer than most files: the LLM stage and each of its endings (answer, tool calls, retry, failure, wait) in one place.
import { correctionMessages, jsonFormatOf, readStructuredOutput } from '../answer/structured-output.ts'
import type { Clock } from '../clock.ts'
import { type JobError, sumUsage } from '../job.ts'
import type { CallBudget } from '../limits/call-budget.ts'
import type { LlmAnswer, LlmClient } from '../llm/llm.ts'
import {
  answerTokens,
  buildBudgetedPrompt,
  type Prompt,
  SystemPromptTokens,
  toolRoundMessages,
} from '../llm/prompt.ts'
import { messageTokens, type TokenCounter } from '../llm/token-count.ts'
import type { Logger } from '../log.ts'
import { infoLine } from '../log-line.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { Job, Store, ToolCallsTurn } from '../store/store.ts'
import type { LlmAttemptSpan, Tracer } from '../telemetry/tracer.ts'
import type { ClientQuotas } from './client-quotas.ts'
import type { JobRun } from './job-run.ts'
import { type ActivePause, pauseMessage, type RateLimitPauses } from './rate-limit-pauses.ts'
import { type LlmRetryPolicy, planLlmRetry, type RateLimitPause } from './retry-policy.ts'
import { attemptsThisRound, planToolRound, type ToolRoundLimits } from './tool-round.ts'

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
  /** HISTORY_MAX_TOKENS; 0 (or no counter): no token limit. */
  historyMaxTokens: number
  tokens: TokenCounter | undefined
  llmRetry: LlmRetryPolicy
  maxResponseChars: number
  toolRounds: ToolRoundLimits
  scrub: (text: string) => string
  /** The job left the LLM stage (answered, failed, or awaiting tool results): a `Prefer: wait` request may answer now. */
  onSettled?: (jobId: string) => void
  tracer: Tracer
  /** Clients' own llm_rpm and daily_token_budget (absent: none). */
  quotas?: ClientQuotas
}

/** How much of a too-long answer its error keeps, for whoever looks into it. */
const TOO_LARGE_EXCERPT = 200

const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * A job's LLM stage: the call with the conversation's history (and the job's own tool rounds),
 * then one of: the answer stored (and joined to history), tool calls stored for the client to
 * answer, a retry scheduled, or the job failed for good.
 */
export class LlmStage {
  private readonly systemPrompts = new SystemPromptTokens()

  constructor(private readonly o: LlmStageOptions) {}

  /** The job as answered, failed or awaiting tool results (on to a callback), or undefined when it went back to the queue. */
  async answer(job: Job, run: JobRun): Promise<Job | undefined> {
    const { store, llm, clock, metrics, workerId } = this.o
    const log = this.o.logger.child({
      job_id: job.id,
      conversation_id: job.conversationId,
      attempt: job.llmAttempts,
    })
    const paused = this.o.pauses.holding(job.model, clock.now())
    if (paused)
      return this.waitWithoutCall(
        job,
        run,
        paused.until,
        { code: 'llm_rate_limited', message: pauseMessage(paused) },
        'llm_paused',
        log,
      )
    const quota = await this.o.quotas?.holding(job.owner, clock.now())
    if (quota) {
      metrics.clientQuotaWaits.inc({ reason: quota.reason })
      return this.waitWithoutCall(job, run, quota.until, quota.error, 'client_quota', log)
    }

    const history = await store.readHistory(job.owner, job.conversationId, this.o.historyMaxMessages)
    await this.o.tokens?.ready?.()
    const prompt = buildBudgetedPrompt(
      {
        systemPrompt: job.systemPrompt,
        history,
        message: job.message,
        // The job's own tool rounds, then (on the one retry after a rejected answer) the answer and the problem.
        after: [
          ...toolRoundMessages(job.toolRounds),
          ...(job.rejected ? correctionMessages(job.rejected.answer, job.rejected.problem) : []),
        ],
      },
      { maxTokens: this.o.historyMaxTokens, counter: this.o.tokens, systemPrompts: this.systemPrompts },
    )
    const span = this.o.tracer.startLlmAttempt(job)
    const started = clock.now()
    const unwatch = run.lease.watch()
    const result = await llm
      .complete({
        model: job.model,
        messages: prompt.messages,
        ...(job.llm && { parameters: job.llm }),
        signal: run.signal,
        ...(span && { headers: span.headers }),
      })
      .finally(unwatch)
    if (run.signal.aborted) {
      // Every write for the job would be refused now: whatever the call brought is dropped.
      log.info({ outcome: 'cancelled' }, 'LLM call stopped: the job was cancelled or is another worker’s now')
      span?.end({ outcome: 'cancelled' })
      return undefined
    }
    const now = clock.now()
    const seconds = (now - started) / 1000
    if (result.ok) {
      metrics.llmDuration.observe({ model: job.model, outcome: 'ok' }, seconds)
      if (result.answer.usage?.cost !== undefined)
        metrics.llmCost.inc({ model: result.answer.model }, result.answer.usage.cost)
      return this.keep(job, run, result.answer, prompt, { started, now, span }, log)
    }

    metrics.llmDuration.observe({ model: job.model, outcome: 'error' }, seconds)
    metrics.llmErrors.inc({ code: result.failure.code, model: job.model })
    const plan = planLlmRetry(result.failure, attemptsThisRound(job), now, this.o.llmRetry)
    const error: JobError = { code: result.failure.code, message: this.o.scrub(result.failure.message) }
    const pause = plan.pause && (await this.pauseCalls(plan.pause, job.model))
    if (!plan.retry) return this.fail(job, run, error, now, log, span)
    if (pause) error.message += `; ${pauseMessage(pause)}`
    const { at, countAttempt } = plan.retry
    await run.finishStage('lease runs out', log, 'the LLM retry', () =>
      store.recordLlmRetry(job.id, workerId, error, at, countAttempt, now),
    )
    log.warn({ outcome: 'llm_retry', code: error.code, retry_at: iso(at) }, error.message)
    span?.end({ outcome: 'retry', error: error.code })
    return undefined
  }

  /** An answer came: stored (and joined to history) when it is what the job asked for. */
  private async keep(
    job: Job,
    run: JobRun,
    answer: LlmAnswer,
    prompt: Prompt,
    at: { started: number; now: number; span: LlmAttemptSpan | undefined },
    log: Logger,
  ): Promise<Job | undefined> {
    const { content, model, usage } = answer
    const { now, span } = at
    const promptTokens = prompt.tokens
    // What the span says of the call; the stage's verdict is added where it is reached.
    const called = span && { model, usage }
    if (content.length > this.o.maxResponseChars)
      return this.fail(job, run, this.tooLarge(content), now, log, span, called)
    if (answer.toolCalls.length > 0) {
      const plan = planToolRound(job, answer, promptTokens, this.o.toolRounds, now)
      if (plan.kind === 'fail') return this.fail(job, run, plan.error, now, log, span, called)
      if (plan.kind === 'reject') return this.reject(job, run, plan.answer, plan.problem, now, log, span)
      return this.awaitResults(job, run, plan.turn, now, log, span, called)
    }
    if (content === '') return this.reject(job, run, content, 'The answer has no text.', now, log, span)
    const format = jsonFormatOf(job.llm)
    const read = format ? readStructuredOutput(content, format) : undefined
    if (read && !read.ok) return this.reject(job, run, content, read.error, now, log, span)
    const counter = this.o.tokens
    const stored = await run.finishStage('lease lost', log, 'the answer', () =>
      this.o.store.recordAnswer(
        job.id,
        this.o.workerId,
        {
          response: content,
          ...(read?.ok && { output: read.output }),
          model,
          usage: sumUsage(job.usage, usage),
          ...(promptTokens !== undefined && { promptTokens }),
          ...(counter && {
            messageTokens: {
              user: prompt.messageTokens ?? messageTokens(counter, job.message),
              // The history row carries the tool rounds before the answer: counted with it.
              assistant: answerTokens(counter, content, job.toolRounds),
            },
          }),
        },
        now,
      ),
    )
    const answered = stored.written ? stored.value : undefined
    span?.end({ outcome: answered ? 'answered' : 'lease_lost', ...called })
    if (answered) this.o.onSettled?.(job.id)
    if (answered) infoLine(log, { outcome: 'answered', model, ms: now - at.started }, 'job answered')
    else log.warn({ outcome: 'lease_lost' }, 'lease lost during the LLM call; answer dropped')
    return answered
  }

  /**
   * An answer that is not what the format asks for: tried once more at the next time of the
   * LLM retry schedule, the model shown its answer and the problem; a second one fails the job.
   */
  private async reject(
    job: Job,
    run: JobRun,
    answer: string,
    problem: string,
    now: number,
    log: Logger,
    span: LlmAttemptSpan | undefined,
  ): Promise<Job | undefined> {
    const { store, workerId, scrub } = this.o
    const failure = {
      code: 'llm_invalid_output' as const,
      message: problem,
      retryable: job.rejected === null,
    }
    const plan = planLlmRetry(failure, attemptsThisRound(job), now, this.o.llmRetry)
    if (!plan.retry) {
      const message = `${problem} The last answer was: ${scrub(answer)}`
      return this.fail(job, run, { code: 'llm_invalid_output', message }, now, log, span)
    }
    const { at } = plan.retry
    const error: JobError = { code: 'llm_invalid_output', message: scrub(problem) }
    await run.finishStage('lease runs out', log, 'the retry of a rejected answer', () =>
      store.recordLlmRetry(job.id, workerId, error, at, true, now, { answer, problem }),
    )
    log.warn({ outcome: 'llm_retry', code: error.code, retry_at: iso(at) }, error.message)
    span?.end({ outcome: 'retry', error: error.code })
    return undefined
  }

  /** The model called tools: the round stored, on to deliver its `job.tool_calls` event; the turn stays open. */
  private async awaitResults(
    job: Job,
    run: JobRun,
    turn: ToolCallsTurn,
    now: number,
    log: Logger,
    span: LlmAttemptSpan | undefined,
    called: { model: string; usage: LlmAnswer['usage'] } | undefined,
  ): Promise<Job | undefined> {
    const stored = await run.finishStage('lease lost', log, 'the tool calls', () =>
      this.o.store.recordToolCalls(job.id, this.o.workerId, turn, now),
    )
    const awaiting = stored.written ? stored.value : undefined
    span?.end({ outcome: awaiting ? 'tool_calls' : 'lease_lost', ...called })
    if (!awaiting) {
      log.warn({ outcome: 'lease_lost' }, 'lease lost during the LLM call; tool calls dropped')
      return undefined
    }
    this.o.onSettled?.(job.id)
    const calls = turn.rounds.at(-1)?.calls.map((c) => c.name) ?? []
    log.info({ outcome: 'tool_calls', round: turn.rounds.length, tools: calls }, 'job awaits tool results')
    return awaiting
  }

  /** The job failed for good: on to deliver `job.failed`; nothing joins history. */
  private async fail(
    job: Job,
    run: JobRun,
    error: JobError,
    now: number,
    log: Logger,
    span?: LlmAttemptSpan,
    called?: { model: string; usage: LlmAnswer['usage'] },
  ): Promise<Job | undefined> {
    const stored = await run.finishStage('lease lost', log, 'the LLM failure', () =>
      this.o.store.recordLlmFailure(job.id, this.o.workerId, error, now),
    )
    log.warn({ outcome: 'failed', code: error.code }, error.message)
    span?.end({ outcome: stored.written ? 'failed' : 'lease_lost', error: error.code, ...called })
    if (stored.written && stored.value) this.o.onSettled?.(job.id)
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

  /**
   * Claimed while its model (or the account) is paused, or its client is over a quota: back to
   * the queue until then, the attempt given back, no call.
   */
  private async waitWithoutCall(
    job: Job,
    run: JobRun,
    until: number,
    error: JobError,
    outcome: 'llm_paused' | 'client_quota',
    log: Logger,
  ): Promise<undefined> {
    const { store, clock, workerId } = this.o
    const now = clock.now()
    const written = run.finishStage('lease runs out', log, 'the wait', () =>
      store.recordLlmRetry(job.id, workerId, error, until, false, now),
    )
    // The call budget counted a call for this job: it made none.
    await this.o.budget.giveBack(1, now).catch(() => {})
    await written
    log.info({ outcome, code: error.code, retry_at: iso(until) }, error.message)
    return undefined
  }
}

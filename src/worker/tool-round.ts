import { readToolCalls } from '../answer/tool-calls.ts'
import type { ToolRound } from '../answer/tool-rounds.ts'
import { type JobError, sumUsage } from '../job.ts'
import type { LlmAnswer } from '../llm/llm.ts'
import type { Job, ToolCallsTurn } from '../store/store.ts'

export interface ToolRoundLimits {
  /** MAX_TOOL_ROUNDS. */
  maxToolRounds: number
  /** TOOL_RESULTS_TIMEOUT. */
  resultsTimeoutMs: number
}

/**
 * What an answer with tool calls leads to: a new round whose event goes to the client, the
 * calls shown back to the model as not acceptable (an unknown tool, arguments that do not fit),
 * or the job failed (one round too many).
 */
export type ToolRoundPlan =
  | { kind: 'await'; turn: ToolCallsTurn }
  | { kind: 'reject'; answer: string; problem: string }
  | { kind: 'fail'; error: JobError }

/** The calls as text, for the model to see on the retry that tells it what was wrong with them. */
function callsAsText(answer: LlmAnswer): string {
  const calls = answer.toolCalls.map((c) => `${c.name}(${c.arguments})`).join('\n')
  return answer.content === '' ? `Tool calls:\n${calls}` : `${answer.content}\nTool calls:\n${calls}`
}

export function planToolRound(
  job: Job,
  answer: LlmAnswer,
  promptTokens: number | undefined,
  limits: ToolRoundLimits,
  now: number,
): ToolRoundPlan {
  if (job.toolRounds.length >= limits.maxToolRounds)
    return {
      kind: 'fail',
      error: {
        code: 'llm_tool_rounds',
        message: `The model asked for tools again after ${job.toolRounds.length} rounds of tool calls; MAX_TOOL_ROUNDS is ${limits.maxToolRounds}.`,
      },
    }
  const ids = answer.toolCalls.map((c) => c.id)
  if (ids.some((id) => id === '') || new Set(ids).size !== ids.length)
    return { kind: 'reject', answer: callsAsText(answer), problem: 'Each tool call needs an id of its own.' }
  const read = readToolCalls(answer.toolCalls, job.llm ?? {})
  if (!read.ok) return { kind: 'reject', answer: callsAsText(answer), problem: read.error }
  const round: ToolRound = {
    content: answer.content,
    calls: answer.toolCalls,
    results: null,
    calledAt: now,
    answeredAt: null,
    llmAttempts: job.llmAttempts,
  }
  return {
    kind: 'await',
    turn: {
      rounds: [...job.toolRounds, round],
      usage: sumUsage(job.usage, answer.usage),
      resultsDueAt: now + limits.resultsTimeoutMs,
      ...(promptTokens !== undefined && { promptTokens }),
    },
  }
}

/** The LLM attempts of the job's current round: each round of tool calls starts the retry schedule again. */
export function attemptsThisRound(job: Job): number {
  return job.llmAttempts - (job.toolRounds.at(-1)?.llmAttempts ?? 0)
}

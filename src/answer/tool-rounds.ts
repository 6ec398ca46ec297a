import type { RawToolCall, ToolCall } from './tool-calls.ts'

/**
 * A job's tool rounds: each time the model answered with tool calls, the calls (the partial
 * turn of the assistant) and, once the client sent them, their results. Kept with the job while
 * it runs, and with the final answer in history, so later prompts see the whole exchange.
 */

export interface ToolResult {
  tool_call_id: string
  content: string
}

export interface ToolRound {
  /** The assistant's text beside its calls; usually ''. */
  content: string
  /** As the model sent them: the arguments are the JSON text it wrote, sent back to it unchanged. */
  calls: RawToolCall[]
  /** Null until the client answers every call. */
  results: ToolResult[] | null
  calledAt: number
  answeredAt: number | null
  /** The job's LLM calls up to and with the one that made these calls: the next round counts its own from here. */
  llmAttempts: number
}

/** The calls the job waits for: those of its last round, while that has no results. */
export function pendingCalls(rounds: readonly ToolRound[]): RawToolCall[] {
  const last = rounds.at(-1)
  return last !== undefined && last.results === null ? last.calls : []
}

/** A call as the client sees it: its arguments parsed (they were checked when the model sent them). */
export function parsedCall(call: RawToolCall): ToolCall {
  let args: unknown = {}
  try {
    if (call.arguments.trim() !== '') args = JSON.parse(call.arguments)
  } catch {
    args = call.arguments
  }
  return { id: call.id, name: call.name, arguments: args }
}

/** The `webhook-id` of a round's `job.tool_calls` event: the same on every attempt, another for each round. */
export function toolCallsWebhookId(jobId: string, round: number): string {
  return `${jobId}_tool_calls_${round}`
}

/** Whether every id of `results` was answered in an earlier round: the same results sent again. */
export function answeredBefore(rounds: readonly ToolRound[], results: readonly ToolResult[]): boolean {
  const answered = new Set(rounds.flatMap((r) => (r.results ?? []).map((x) => x.tool_call_id)))
  return results.length > 0 && results.every((r) => answered.has(r.tool_call_id))
}

/** Whether `results` answer every pending call exactly once, and nothing else. */
export function answersExactly(pending: readonly RawToolCall[], results: readonly ToolResult[]): boolean {
  const ids = new Set(results.map((r) => r.tool_call_id))
  return (
    pending.length > 0 &&
    ids.size === results.length &&
    results.length === pending.length &&
    pending.every((c) => ids.has(c.id))
  )
}

/** The rounds with `results` given to the pending one. */
export function withResults(
  rounds: readonly ToolRound[],
  results: readonly ToolResult[],
  at: number,
): ToolRound[] {
  const answered = rounds.map((r) => ({ ...r }))
  const last = answered.at(-1)
  if (last === undefined || last.results !== null) throw new Error('no tool round waits for results')
  // In the order of the calls, which is the order the model reads them in.
  const byId = new Map(results.map((r) => [r.tool_call_id, r]))
  last.results = last.calls.map((c) => ({ tool_call_id: c.id, content: byId.get(c.id)?.content ?? '' }))
  last.answeredAt = at
  return answered
}

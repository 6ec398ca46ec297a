import type { LlmParameters } from '../answer/parameters.ts'
import type { ToolRound } from '../answer/tool-rounds.ts'
import type { ErrorCode, JobError, JobStatus, Usage } from '../job.ts'
import type { DeliveryAttempt, HistoryMessage, Job, NewJob, RejectedAnswer } from './store.ts'

/** Column names and types shared by the SQL adapters. */
export interface JobRow {
  id: string
  owner: string
  conversation_id: string
  sequence: number | string
  status: string
  /** Its due time; while leased, when the lease runs out. */
  available_at: number | string
  message: string
  callback_url: string
  callback_headers: string | null
  /** JSON array of lower-case names, or null without headers. */
  callback_header_names: string | null
  model: string
  system_prompt: string
  metadata: string | null
  llm_parameters: string | null
  response: string | null
  output: string | null
  rejected_answer: string | null
  prompt_tokens: number | null
  tool_rounds: string | null
  tool_results_due_at: number | string | null
  error_code: string | null
  error_message: string | null
  usage: string | null
  llm_attempts: number
  delivery_attempts: number
  delivery_failures: number
  trace_context?: string | null
  created_at: number | string
  updated_at: number | string
  completed_at: number | string | null
  /** Only in the single-job read: a dead job's last delivery error, when it has none of its own. */
  last_delivery_error_code?: string | null
  last_delivery_error_message?: string | null
}

export interface MessageRow {
  role: string
  content: string
  job_id: string
  created_at: number | string
  tokens?: number | null
  tool_rounds?: string | null
}

export interface DeliveryAttemptRow {
  attempt: number
  at: number | string
  status_code: number | null
  error_code: string | null
  error_message: string | null
  duration_ms: number
}

function errorOf(code: string | null, message: string | null): JobError | null {
  return code === null ? null : { code: code as ErrorCode, message: message ?? '' }
}

export function jobFromRow(row: JobRow): Job {
  return {
    id: row.id,
    owner: row.owner,
    conversationId: row.conversation_id,
    sequence: Number(row.sequence),
    status: row.status as JobStatus,
    message: row.message,
    callbackUrl: row.callback_url,
    callbackHeaders: row.callback_headers,
    callbackHeaderNames:
      row.callback_header_names === null ? [] : (JSON.parse(row.callback_header_names) as string[]),
    model: row.model,
    systemPrompt: row.system_prompt,
    metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as Record<string, unknown>),
    llm: row.llm_parameters == null ? null : (JSON.parse(row.llm_parameters) as LlmParameters),
    response: row.response,
    output: row.output == null ? null : (JSON.parse(row.output) as unknown),
    rejected: row.rejected_answer == null ? null : (JSON.parse(row.rejected_answer) as RejectedAnswer),
    promptTokens: row.prompt_tokens ?? null,
    toolRounds: row.tool_rounds == null ? [] : (JSON.parse(row.tool_rounds) as ToolRound[]),
    toolResultsDueAt: row.tool_results_due_at == null ? null : Number(row.tool_results_due_at),
    error:
      errorOf(row.error_code, row.error_message) ??
      errorOf(row.last_delivery_error_code ?? null, row.last_delivery_error_message ?? null),
    usage: row.usage === null ? null : (JSON.parse(row.usage) as Usage),
    llmAttempts: row.llm_attempts,
    deliveryAttempts: row.delivery_attempts,
    deliveryFailures: row.delivery_failures,
    traceContext: row.trace_context ?? null,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    completedAt: row.completed_at === null ? null : Number(row.completed_at),
  }
}

/**
 * A job as it stands at `now`. A processing job whose lease ran out is held by nobody and
 * taken by the next claim: it reads as `queued` (its attempt still counted), the
 * `lease expired` transition that no statement writes.
 */
export function jobAsOf(row: JobRow, now: number): Job {
  const job = jobFromRow(row)
  return job.status === 'processing' && Number(row.available_at) <= now ? { ...job, status: 'queued' } : job
}

/**
 * The row an accept inserts, as it is read back (so no RETURNING * is needed to answer with
 * it); `leaseUntil`: accepted and claimed, leased until then.
 */
export function acceptedRow(job: NewJob, sequence: number, leaseUntil?: number): JobRow {
  return {
    id: job.id,
    owner: job.owner,
    conversation_id: job.conversationId,
    sequence,
    status: leaseUntil === undefined ? 'queued' : 'processing',
    available_at: leaseUntil ?? job.now,
    message: job.message,
    callback_url: job.callbackUrl,
    callback_headers: job.callbackHeaders ?? null,
    callback_header_names: job.callbackHeaderNames?.length ? JSON.stringify(job.callbackHeaderNames) : null,
    model: job.model,
    system_prompt: job.systemPrompt,
    metadata: job.metadata === null ? null : JSON.stringify(job.metadata),
    llm_parameters: job.llm == null ? null : JSON.stringify(job.llm),
    response: null,
    output: null,
    rejected_answer: null,
    prompt_tokens: null,
    tool_rounds: null,
    tool_results_due_at: null,
    error_code: null,
    error_message: null,
    usage: null,
    llm_attempts: leaseUntil === undefined ? 0 : 1,
    delivery_attempts: 0,
    delivery_failures: 0,
    trace_context: job.traceContext ?? null,
    created_at: job.now,
    updated_at: job.now,
    completed_at: null,
  }
}

export function messageFromRow(row: MessageRow): HistoryMessage {
  const message: HistoryMessage = {
    role: row.role as HistoryMessage['role'],
    content: row.content,
    jobId: row.job_id,
    createdAt: Number(row.created_at),
  }
  if (row.tokens != null) message.tokens = row.tokens
  if (row.tool_rounds != null) message.toolRounds = JSON.parse(row.tool_rounds) as ToolRound[]
  return message
}

export function deliveryAttemptFromRow(row: DeliveryAttemptRow): DeliveryAttempt {
  return {
    attempt: row.attempt,
    at: Number(row.at),
    statusCode: row.status_code,
    error: errorOf(row.error_code, row.error_message),
    durationMs: row.duration_ms,
  }
}

import type { LlmParameters } from '../answer/parameters.ts'
import type { ErrorCode, JobError, JobStatus, Usage } from '../job.ts'
import type { DeliveryAttempt, HistoryMessage, Job, RejectedAnswer } from './store.ts'

/** Column names and types shared by the SQL adapters. */
export interface JobRow {
  id: string
  owner: string
  conversation_id: string
  sequence: number | string
  status: string
  message: string
  callback_url: string
  model: string
  system_prompt: string
  metadata: string | null
  llm_parameters: string | null
  response: string | null
  output: string | null
  rejected_answer: string | null
  prompt_tokens: number | null
  error_code: string | null
  error_message: string | null
  usage: string | null
  llm_attempts: number
  delivery_attempts: number
  delivery_failures: number
  created_at: number | string
  updated_at: number | string
  completed_at: number | string | null
}

export interface MessageRow {
  role: string
  content: string
  job_id: string
  created_at: number | string
  tokens?: number | null
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
    model: row.model,
    systemPrompt: row.system_prompt,
    metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as Record<string, unknown>),
    llm: row.llm_parameters == null ? null : (JSON.parse(row.llm_parameters) as LlmParameters),
    response: row.response,
    output: row.output == null ? null : (JSON.parse(row.output) as unknown),
    rejected: row.rejected_answer == null ? null : (JSON.parse(row.rejected_answer) as RejectedAnswer),
    promptTokens: row.prompt_tokens ?? null,
    error: errorOf(row.error_code, row.error_message),
    usage: row.usage === null ? null : (JSON.parse(row.usage) as Usage),
    llmAttempts: row.llm_attempts,
    deliveryAttempts: row.delivery_attempts,
    deliveryFailures: row.delivery_failures,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    completedAt: row.completed_at === null ? null : Number(row.completed_at),
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

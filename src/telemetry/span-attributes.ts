import type { Job } from '../store/store.ts'
import type { CallbackAttemptResult, IntakeOutcomeName, LlmAttemptResult } from './tracer.ts'

/**
 * What each span says, by OpenTelemetry's semantic conventions where they have a name for it
 * (HTTP, GenAI, `error.type`) and under `llm_relay.` where they do not. Identifiers, counts,
 * codes and outcomes only: never a message, an answer, a URL's path or query, or a secret.
 */
export type Attributes = Record<string, string | number | boolean>

export const SPAN_NAMES = {
  intake: 'POST /webhook',
  llm: (model: string) => `chat ${model}`,
  callback: 'POST callback',
} as const

const jobAttributes = (job: Pick<Job, 'id' | 'conversationId'>): Attributes => ({
  'llm_relay.job.id': job.id,
  'llm_relay.conversation.id': job.conversationId,
})

export const intakeStartAttributes = (): Attributes => ({
  'http.request.method': 'POST',
  'http.route': '/webhook',
})

export function intakeOutcomeAttributes(
  outcome: IntakeOutcomeName,
  job: Pick<Job, 'id' | 'conversationId' | 'model'> | undefined,
): Attributes {
  const attributes: Attributes = { 'llm_relay.outcome': outcome }
  if (job) Object.assign(attributes, jobAttributes(job), { 'gen_ai.request.model': job.model })
  return attributes
}

export function intakeEndAttributes(status: number): Attributes {
  const attributes: Attributes = { 'http.response.status_code': status }
  // A server span is an error only for a 5xx (a 4xx is the client's).
  if (status >= 500) attributes['error.type'] = String(status)
  return attributes
}

export const llmStartAttributes = (job: Job): Attributes => ({
  ...jobAttributes(job),
  'llm_relay.attempt': job.llmAttempts,
  'gen_ai.operation.name': 'chat',
  'gen_ai.request.model': job.model,
})

export function llmEndAttributes(r: LlmAttemptResult): Attributes {
  const attributes: Attributes = { 'llm_relay.outcome': r.outcome }
  if (r.error) attributes['error.type'] = r.error
  if (r.model) attributes['gen_ai.response.model'] = r.model
  if (r.usage) {
    attributes['gen_ai.usage.input_tokens'] = r.usage.prompt_tokens
    attributes['gen_ai.usage.output_tokens'] = r.usage.completion_tokens
  }
  return attributes
}

/** The callback's host and port only: a path or query may hold the receiver's own token. */
function serverOf(url: string): Attributes {
  const parsed = URL.parse(url)
  if (!parsed) return {}
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port)
  return { 'server.address': parsed.hostname, 'server.port': port }
}

export const callbackStartAttributes = (job: Job): Attributes => ({
  ...jobAttributes(job),
  'llm_relay.attempt': job.deliveryAttempts + 1,
  'llm_relay.event': job.response === null ? 'job.failed' : 'job.completed',
  'http.request.method': 'POST',
  ...serverOf(job.callbackUrl),
})

export function callbackEndAttributes(r: CallbackAttemptResult): Attributes {
  const attributes: Attributes = { 'llm_relay.outcome': r.outcome }
  if (r.statusCode !== null) attributes['http.response.status_code'] = r.statusCode
  if (r.error) attributes['error.type'] = r.error
  return attributes
}

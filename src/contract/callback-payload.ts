import { type Static, Type } from '@sinclair/typebox'
import { JobErrorSchema, Nullable, Timestamp, UsageSchema } from './fields.ts'

/**
 * The body of every callback: a Standard Webhooks envelope (`type`, `timestamp`, `data`), one
 * shape per event type. The relay builds it (`delivery/payload.ts`), the OpenAPI document lists
 * it under `webhooks`, and receivers can generate their types from that.
 */

const jobFields = {
  id: Type.String({ description: 'The job id; the same as the `webhook-id` header.' }),
  conversation_id: Type.String({ description: 'The conversation the message belongs to.' }),
  sequence: Type.Integer({
    minimum: 1,
    description:
      'The message’s place in its conversation (1, 2, …): callbacks of one conversation come in this order.',
  }),
  message: Type.String({ description: 'The message that was answered.' }),
  model: Type.String({ description: 'The model that answered; for a failure, the model asked for.' }),
  usage: Nullable(UsageSchema),
  output: Type.Unknown({
    description:
      'The answer parsed as JSON, when the request asked for it with `llm.response_format` (`json_object` or `json_schema`, then valid against the schema); otherwise null.',
    examples: [{ category: 'billing', urgent: true }],
  }),
  metadata: Nullable(
    Type.Record(Type.String(), Type.Unknown(), { description: 'The request’s `metadata`, as sent.' }),
  ),
  created_at: Timestamp('When the message was accepted.'),
  completed_at: Nullable(Timestamp('When the answer or the failure was stored.')),
}

const timestamp = Timestamp(
  'When the job finished; the same on every attempt (the `webhook-timestamp` header is the attempt’s).',
)

export const JobCompletedEvent = Type.Object(
  {
    type: Type.Literal('job.completed'),
    timestamp,
    data: Type.Object({
      ...jobFields,
      response: Type.String({ description: 'The answer.' }),
      error: Type.Null(),
    }),
  },
  { description: 'The message was answered: `data.response` holds the answer.' },
)

export const JobFailedEvent = Type.Object(
  {
    type: Type.Literal('job.failed'),
    timestamp,
    data: Type.Object({
      ...jobFields,
      response: Type.Null(),
      error: JobErrorSchema,
    }),
  },
  {
    description:
      'The message could not be answered: `data.error` says why. A failed message does not join the conversation’s history.',
  },
)

export const CallbackPayloadSchema = Type.Union([JobCompletedEvent, JobFailedEvent], {
  description: 'A callback body: `type` says which event it is.',
})
export type CallbackPayload = Static<typeof CallbackPayloadSchema>
export type JobCompleted = Static<typeof JobCompletedEvent>
export type JobFailed = Static<typeof JobFailedEvent>

/** One of each event, for the OpenAPI document (and checked against the schemas by a test). */
export const CALLBACK_EXAMPLES: { 'job.completed': JobCompleted; 'job.failed': JobFailed } = {
  'job.completed': {
    type: 'job.completed',
    timestamp: '2026-01-01T12:00:01.200Z',
    data: {
      id: '01a213ab-1cdb-75ba-8eea-470df95e15a7',
      conversation_id: 'customer-42',
      sequence: 1,
      message: 'Hi! My name is Ada.',
      response: 'Hello Ada! How can I help you today?',
      error: null,
      model: 'meta-llama/llama-3.3-70b-instruct:free',
      usage: { prompt_tokens: 24, completion_tokens: 10, total_tokens: 34 },
      output: null,
      metadata: { ticket: 'T-1001' },
      created_at: '2026-01-01T12:00:00.000Z',
      completed_at: '2026-01-01T12:00:01.200Z',
    },
  },
  'job.failed': {
    type: 'job.failed',
    timestamp: '2026-01-01T12:00:31.000Z',
    data: {
      id: '01a213ab-2f0e-7c41-9d2a-1b7e0c6f3a90',
      conversation_id: 'customer-42',
      sequence: 2,
      message: 'And what is my name?',
      response: null,
      error: {
        code: 'llm_rate_limited',
        message: 'LLM API answered 429: Rate limit exceeded: free-models-per-day.',
      },
      model: 'meta-llama/llama-3.3-70b-instruct:free',
      usage: null,
      output: null,
      metadata: null,
      created_at: '2026-01-01T12:00:02.000Z',
      completed_at: '2026-01-01T12:00:31.000Z',
    },
  },
}

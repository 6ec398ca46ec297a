import { type Static, Type } from '@sinclair/typebox'
import { ToolCallSchema } from '../answer/tool-calls.ts'
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

const { usage: _usage, output: _output, completed_at: _completed, ...askedFields } = jobFields

export const JobToolCallsEvent = Type.Object(
  {
    type: Type.Literal('job.tool_calls'),
    timestamp: Timestamp('When the model made these calls; the same on every attempt.'),
    data: Type.Object({
      ...askedFields,
      id: Type.String({
        description:
          'The job id. The `webhook-id` header is `{id}_tool_calls_{round}`: the same on every attempt of a round.',
      }),
      model: Type.String({ description: 'The model asked for.' }),
      round: Type.Integer({
        minimum: 1,
        description: 'Which round of tool calls this is (1, 2, …; at most MAX_TOOL_ROUNDS).',
      }),
      tool_calls: Type.Array(ToolCallSchema, {
        minItems: 1,
        description: 'Answer every one of them, once, with `POST /jobs/{id}/tool_results`.',
      }),
      content: Nullable(Type.String({ description: 'What the model wrote beside its calls, if anything.' })),
      usage: Nullable(UsageSchema),
      results_due_at: Timestamp(
        'Results that have not come by then fail the job (`tool_results_timeout`, TOOL_RESULTS_TIMEOUT).',
      ),
    }),
  },
  {
    description:
      'The model wants functions called (the request had `llm.tools`). The job is `awaiting_tool_results` and its conversation waits: answer with `POST /jobs/{id}/tool_results`, then the model goes on, and the job ends with `job.completed` (or calls tools again).',
  },
)

export const CallbackPayloadSchema = Type.Union([JobCompletedEvent, JobFailedEvent, JobToolCallsEvent], {
  description: 'A callback body: `type` says which event it is.',
})
export type CallbackPayload = Static<typeof CallbackPayloadSchema>
export type JobCompleted = Static<typeof JobCompletedEvent>
export type JobFailed = Static<typeof JobFailedEvent>
export type JobToolCalls = Static<typeof JobToolCallsEvent>
/** The two events that end a job: what a receiver gets once per message without tools. */
export type ResultPayload = JobCompleted | JobFailed

/** One of each event, for the OpenAPI document (and checked against the schemas by a test). */
export const CALLBACK_EXAMPLES: {
  'job.completed': JobCompleted
  'job.failed': JobFailed
  'job.tool_calls': JobToolCalls
} = {
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
  'job.tool_calls': {
    type: 'job.tool_calls',
    timestamp: '2026-01-01T12:01:00.800Z',
    data: {
      id: '01a213ab-3c4d-7e5f-8a6b-2c7d9e0f1a2b',
      conversation_id: 'customer-42',
      sequence: 3,
      message: 'Where is my order A-1001?',
      round: 1,
      tool_calls: [{ id: 'call_1', name: 'get_order', arguments: { number: 'A-1001' } }],
      content: null,
      model: 'openai/gpt-4o-mini',
      usage: { prompt_tokens: 96, completion_tokens: 18, total_tokens: 114 },
      metadata: null,
      created_at: '2026-01-01T12:01:00.000Z',
      results_due_at: '2026-01-01T13:01:00.800Z',
    },
  },
}

// Longer than most files: the wire shapes of the core routes (webhook, job, conversation, health), each
// with its descriptions and examples, kept together because they share fields and are read as one API.
import { FormatRegistry, Type } from '@sinclair/typebox'
import { type Static, t } from 'elysia'
import { LlmParametersSchema } from '../answer/parameters.ts'
import { ToolCallSchema } from '../answer/tool-calls.ts'
import {
  Timestamp as ContractTimestamp,
  JobErrorSchema,
  Nullable,
  StringEnum,
  UsageSchema,
} from '../contract/fields.ts'
import { MAX_CALLBACK_HEADERS } from '../intake/callback-headers.ts'
import { JOB_STATUSES } from '../job.ts'

export { JobErrorSchema, UsageSchema } from '../contract/fields.ts'

export const CONVERSATION_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$'
export const METADATA_MAX_BYTES = 4096

/** An absolute http(s) URL with a host and without `user:password@`. */
export function isCallbackUrl(value: string): boolean {
  if (!URL.canParse(value)) return false
  const url = new URL(value)
  return (
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.hostname !== '' &&
    url.username === '' &&
    url.password === ''
  )
}
FormatRegistry.Set('callback-url', isCallbackUrl)

export function webhookBodySchema(maxMessageChars: number) {
  return t.Object(
    {
      message: t.String({
        minLength: 1,
        maxLength: maxMessageChars,
        pattern: '\\S',
        'x-error': `must be a non-blank string of at most ${maxMessageChars} characters`,
        description: `The user's message. Not blank, at most ${maxMessageChars} characters.`,
        examples: ['What is the capital of France?'],
      }),
      callback_url: t.String({
        format: 'callback-url',
        maxLength: 2048,
        'x-error': 'must be an absolute http or https URL of at most 2048 characters, without user:password@',
        description:
          'Absolute http(s) URL the answer is POSTed to (Standard Webhooks envelope). No `user:password@`.',
        examples: ['https://example.com/hooks/llm'],
      }),
      conversation_id: t.Optional(
        t.String({
          pattern: CONVERSATION_ID_PATTERN,
          'x-error': 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -',
          description:
            'Messages with the same id share history. Left out, the conversation is keyed by `callback_url`.',
          examples: ['customer-42'],
        }),
      ),
      model: t.Optional(
        t.String({
          minLength: 1,
          maxLength: 200,
          description: 'Model id for this message (overrides `LLM_MODEL`).',
          examples: ['meta-llama/llama-3.3-70b-instruct:free'],
        }),
      ),
      system_prompt: t.Optional(
        t.String({
          maxLength: maxMessageChars,
          description: 'System prompt for this message (overrides `SYSTEM_PROMPT`).',
          examples: ['Answer in one sentence.'],
        }),
      ),
      callback_headers: t.Optional(
        t.Record(t.String(), t.String(), {
          maxProperties: MAX_CALLBACK_HEADERS,
          description: `Up to ${MAX_CALLBACK_HEADERS} headers sent with every callback attempt, e.g. the receiver’s own \`Authorization\`. Stored encrypted when \`DATA_ENCRYPTION_KEY\` is set and never shown again: \`GET /jobs/{id}\` lists their names only. Not allowed: \`Host\`, \`Content-Length\`, \`Content-Type\`, \`User-Agent\`, hop-by-hop headers and \`webhook-*\`.`,
          examples: [{ Authorization: 'Bearer receiver-token' }],
        }),
      ),
      metadata: t.Optional(
        t.Record(t.String(), t.Unknown(), {
          description: `Any JSON object up to ${METADATA_MAX_BYTES} bytes, echoed back in the callback.`,
          examples: [{ ticket: 'T-1001' }],
        }),
      ),
      llm: t.Optional(LlmParametersSchema),
    },
    { description: 'A message to answer and where to deliver the answer.' },
  )
}
export type WebhookBody = Static<ReturnType<typeof webhookBodySchema>>

const Status = StringEnum(JOB_STATUSES, {
  description:
    '`queued` waits for the LLM · `processing` the LLM call runs · `awaiting_tool_results` the model called tools: their `job.tool_calls` event is sent and the job waits for `POST /jobs/{id}/tool_results` · `delivering` the answer is stored and the callback is being sent · `delivered` · `dead` every callback attempt failed (redeliverable) · `cancelled` stopped by `POST /jobs/{id}/cancel`.',
})

export const WebhookAccepted = t.Object(
  {
    id: t.String({ description: 'Job id; also the callback’s `webhook-id`.', examples: ['0193a1b2-…'] }),
    conversation_id: t.String({ examples: ['customer-42'] }),
    status: Status,
    status_url: t.String({
      description: 'Where to read the job.',
      examples: ['http://localhost:3000/jobs/0193a1b2-…'],
    }),
  },
  { description: 'The job is committed and will be answered.' },
)

const Timestamp = ContractTimestamp()

export const JobView = t.Object(
  {
    id: t.String(),
    conversation_id: t.String(),
    status: Status,
    message: t.String(),
    response: Nullable(t.String({ description: 'The answer, once there is one.' })),
    output: t.Unknown({
      description:
        'The answer parsed as JSON, for a JSON `llm.response_format` (valid against its schema); otherwise null.',
      examples: [{ category: 'billing', urgent: true }],
    }),
    error: Nullable(JobErrorSchema),
    model: t.String({ description: 'The model asked for; once answered, the model that answered.' }),
    // The request's `llm` object as sent on every attempt, LLM_TEMPERATURE and LLM_MAX_TOKENS filled in.
    llm: Nullable(LlmParametersSchema),
    usage: Nullable(UsageSchema),
    prompt_tokens_counted: Nullable(
      Type.Integer({
        description:
          'The last prompt’s tokens as the relay counted them for HISTORY_MAX_TOKENS (cl100k); `usage.prompt_tokens` is the provider’s own count.',
        examples: [412],
      }),
    ),
    metadata: Nullable(t.Record(t.String(), t.Unknown())),
    callback_headers: t.Array(t.String(), {
      description:
        'The names of the `callback_headers` sent with each attempt, lower case; their values are never shown.',
      examples: [['authorization']],
    }),
    tool_calls: Nullable(
      t.Array(ToolCallSchema, {
        description:
          'While `awaiting_tool_results`: the calls to answer with `POST /jobs/{id}/tool_results` (the same as in the `job.tool_calls` event); otherwise null.',
      }),
    ),
    tool_rounds: Type.Integer({
      description: 'Rounds of tool calls so far (at most MAX_TOOL_ROUNDS); 0 without tools.',
      examples: [1],
    }),
    tool_results_due_at: Nullable(
      ContractTimestamp('While `awaiting_tool_results`: when TOOL_RESULTS_TIMEOUT fails the job.'),
    ),
    attempts: t.Object({
      llm: Type.Integer({ description: 'LLM calls started for this job.' }),
      delivery: Type.Integer({
        description: 'Callback attempts made (the `job.tool_calls` events’ included).',
      }),
    }),
    deliveries: t.Array(
      t.Object({
        attempt: Type.Integer(),
        at: Timestamp,
        status_code: Nullable(Type.Integer()),
        error: Nullable(JobErrorSchema),
        duration_ms: Type.Integer(),
      }),
      { description: 'Every callback attempt, oldest first.' },
    ),
    created_at: Timestamp,
    updated_at: Timestamp,
    completed_at: Nullable(Timestamp),
  },
  { description: 'A job and everything that happened to it.' },
)
export type JobView = Static<typeof JobView>

/** The job view, with the example of a job cancelled while its LLM call ran. */
export const CancelledJobView = t.Object(JobView.properties, {
  description: 'The job, now `cancelled`.',
  examples: [
    {
      id: '01a213ab-1cdb-75ba-8eea-470df95e15a7',
      conversation_id: 'customer-42',
      status: 'cancelled',
      message: 'Summarize the attached contract.',
      response: null,
      output: null,
      error: null,
      model: 'openrouter/auto',
      llm: null,
      usage: null,
      prompt_tokens_counted: null,
      metadata: null,
      callback_headers: [],
      tool_calls: null,
      tool_rounds: 0,
      tool_results_due_at: null,
      attempts: { llm: 1, delivery: 0 },
      deliveries: [],
      created_at: '2025-01-01T12:00:00.000Z',
      updated_at: '2025-01-01T12:00:04.250Z',
      completed_at: null,
    },
  ],
})

export const ConversationView = t.Object(
  {
    id: t.String(),
    messages: t.Array(
      t.Object({
        role: StringEnum(['user', 'assistant', 'tool'] as const, {
          description:
            '`user` a message · `assistant` an answer, or (with `tool_calls`) the functions the model called on the way to it · `tool` a function’s result, as the client sent it.',
        }),
        content: t.String({ description: "The text; '' for an assistant turn that only calls tools." }),
        job_id: t.String(),
        created_at: Timestamp,
        tool_calls: t.Optional(
          t.Array(ToolCallSchema, { description: 'On an assistant turn that called tools: the calls.' }),
        ),
        tool_call_id: t.Optional(t.String({ description: 'On a `tool` message: the call it answers.' })),
      }),
      {
        description:
          'Oldest first. An answer reached through tools comes after its rounds: the assistant’s calls, then a `tool` message per result.',
      },
    ),
  },
  {
    description: 'A conversation’s history: the answered messages and their answers.',
    examples: [
      {
        id: 'customer-42',
        messages: [
          {
            role: 'user',
            content: 'Where is my order A-1001?',
            job_id: '01a213ab-3c4d-7e5f-8a6b-2c7d9e0f1a2b',
            created_at: '2026-01-01T12:01:00.000Z',
          },
          {
            role: 'assistant',
            content: '',
            job_id: '01a213ab-3c4d-7e5f-8a6b-2c7d9e0f1a2b',
            created_at: '2026-01-01T12:01:00.800Z',
            tool_calls: [{ id: 'call_1', name: 'get_order', arguments: { number: 'A-1001' } }],
          },
          {
            role: 'tool',
            content: '{"status":"shipped","eta":"2026-01-03"}',
            job_id: '01a213ab-3c4d-7e5f-8a6b-2c7d9e0f1a2b',
            created_at: '2026-01-01T12:01:02.000Z',
            tool_call_id: 'call_1',
          },
          {
            role: 'assistant',
            content: 'Your order A-1001 has shipped and should arrive on January 3.',
            job_id: '01a213ab-3c4d-7e5f-8a6b-2c7d9e0f1a2b',
            created_at: '2026-01-01T12:01:03.100Z',
          },
        ],
      },
    ],
  },
)

export const ToolResultsAccepted = t.Object(
  { id: t.String(), status: Status },
  {
    description: 'The results are stored with their calls; the job is queued for the model again.',
    examples: [{ id: '01a213ab-3c4d-7e5f-8a6b-2c7d9e0f1a2b', status: 'queued' }],
  },
)

export const RedeliverAccepted = t.Object(
  { id: t.String(), status: Status },
  { description: 'The stored result will be sent again.' },
)

export const Health = t.Object({ status: t.Literal('ok') })
const CheckState = StringEnum(['pass', 'fail'] as const)
export const Readiness = t.Object(
  {
    status: StringEnum(['ready', 'unavailable'] as const),
    checks: t.Object(
      {
        accepting: t.Optional(CheckState),
        database: t.Optional(CheckState),
        redis: t.Optional(CheckState),
      },
      {
        description:
          'Each check’s state: `accepting` fails while the relay drains, `database` when the store does not answer a ping within 1 s, `redis` (only with REDIS_URL) when Redis is out of reach.',
      },
    ),
  },
  {
    description: '`ready` (200) when every check passes, else `unavailable` (503).',
    examples: [
      { status: 'ready', checks: { accepting: 'pass', database: 'pass', redis: 'pass' } },
      { status: 'unavailable', checks: { accepting: 'pass', database: 'pass', redis: 'fail' } },
    ],
  },
)

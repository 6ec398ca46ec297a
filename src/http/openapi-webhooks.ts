import {
  CALLBACK_EXAMPLES,
  JobCompletedEvent,
  JobFailedEvent,
  JobToolCallsEvent,
} from '../contract/callback-payload.ts'
import { jsonSchemaOf } from './openapi-schema.ts'

/**
 * The callbacks, as OpenAPI 3.1 `webhooks`: what a receiver gets, how to check it came from
 * this relay, and what to answer. The schemas are the ones `delivery/payload.ts` builds from.
 */

const VERIFY = `Every callback is a POST of JSON with the three [Standard Webhooks](https://www.standardwebhooks.com) headers.

**Verify it** (when \`CALLBACK_SECRET\` is set), on the raw body bytes, before parsing them:
1. the key is the base64 after \`whsec_\` in \`CALLBACK_SECRET\`, decoded;
2. compute base64(HMAC-SHA256(key, \`{webhook-id}.{webhook-timestamp}.{body}\`)) and prefix it with \`v1,\`;
3. accept when it equals, compared in constant time, one of the space-separated entries of \`webhook-signature\`;
4. refuse a \`webhook-timestamp\` more than 5 minutes from your clock (a replay).

The \`standardwebhooks\` libraries (npm, PyPI, Go, Ruby, …) do all four: \`new Webhook(secret).verify(rawBody, headers)\`.

**Answer** any 2xx within \`CALLBACK_TIMEOUT\`. Anything else (another status, a redirect, no answer) is retried on \`CALLBACK_RETRY_SCHEDULE\` with the same body and \`webhook-id\`; delivery is at least once, so drop duplicates by \`webhook-id\`. Callbacks of one conversation come in \`data.sequence\` order.`

const webhookId = (description: string, example: string) => ({
  name: 'webhook-id',
  in: 'header',
  required: true,
  description,
  schema: { type: 'string', examples: [example] },
})

const HEADER_PARAMETERS = [
  webhookId(
    'The job id: the same on every attempt and redelivery. Drop duplicates by it.',
    CALLBACK_EXAMPLES['job.completed'].data.id,
  ),
  {
    name: 'webhook-timestamp',
    in: 'header',
    required: true,
    description: 'Unix seconds of this attempt; signed with the body. Refuse one far from your clock.',
    schema: { type: 'integer', examples: [1767268801] },
  },
  {
    name: 'webhook-signature',
    in: 'header',
    required: false,
    description:
      'Sent when `CALLBACK_SECRET` is set: `v1,` + base64(HMAC-SHA256) of `{webhook-id}.{webhook-timestamp}.{body}`; entries are separated by spaces.',
    schema: { type: 'string', examples: ['v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4='] },
  },
]

const EVENTS = {
  'job.completed': {
    component: 'JobCompletedEvent',
    schema: JobCompletedEvent,
    operationId: 'jobCompleted',
    summary: 'A message was answered',
  },
  'job.failed': {
    component: 'JobFailedEvent',
    schema: JobFailedEvent,
    operationId: 'jobFailed',
    summary: 'A message could not be answered',
  },
  'job.tool_calls': {
    component: 'JobToolCallsEvent',
    schema: JobToolCallsEvent,
    operationId: 'jobToolCalls',
    summary: 'The model wants tools called',
  },
} as const

/** The tool calls' own `webhook-id`: one per round, the same on every attempt of it. */
const TOOL_CALLS_HEADERS = [
  webhookId(
    '`{job id}_tool_calls_{round}`: the same on every attempt of the round, another for the next round. Drop duplicates by it.',
    `${CALLBACK_EXAMPLES['job.tool_calls'].data.id}_tool_calls_1`,
  ),
  ...HEADER_PARAMETERS.slice(1),
]

const RESPONSES = {
  result: {
    '2XX': { description: 'Delivered: the job becomes `delivered`.' },
    default: {
      description:
        'Not delivered: retried on `CALLBACK_RETRY_SCHEDULE`; after the last retry the job is `dead` (redeliverable).',
    },
  },
  toolCalls: {
    '2XX': {
      description:
        'Delivered: the event is not sent again. The results may come before or after this answer.',
    },
    default: {
      description:
        'Not delivered: retried on `CALLBACK_RETRY_SCHEDULE`; after the last retry it is not sent again, and the job still takes results (its calls are in `GET /jobs/{id}`) until TOOL_RESULTS_TIMEOUT.',
    },
  },
}

/** The event schemas, for `components.schemas`. */
export function callbackSchemas(): Record<string, unknown> {
  return Object.fromEntries(Object.values(EVENTS).map((e) => [e.component, jsonSchemaOf(e.schema)]))
}

/** The `webhooks` section: one entry per event type. */
export function callbackWebhooks(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(EVENTS).map(([type, event]) => [
      type,
      {
        post: {
          operationId: event.operationId,
          summary: event.summary,
          description: VERIFY,
          security: [],
          parameters: type === 'job.tool_calls' ? TOOL_CALLS_HEADERS : HEADER_PARAMETERS,
          requestBody: {
            required: true,
            description: event.schema.description,
            content: {
              'application/json': {
                schema: { $ref: `#/components/schemas/${event.component}` },
                example: CALLBACK_EXAMPLES[type as keyof typeof EVENTS],
              },
            },
          },
          responses: type === 'job.tool_calls' ? RESPONSES.toolCalls : RESPONSES.result,
        },
      },
    ]),
  )
}

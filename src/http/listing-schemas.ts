import { Type } from '@sinclair/typebox'
import { t } from 'elysia'
import { ErrorCodeSchema, Nullable, StringEnum, Timestamp } from '../contract/fields.ts'
import { JOB_STATUSES } from '../job.ts'
import { TEXT_SEARCH_WINDOW } from '../store/job-listing.ts'
import { MESSAGE_PREVIEW_CHARS } from '../store/listing.ts'
import { CONVERSATION_ID_PATTERN } from './schemas.ts'

/**
 * The operators' listing and recovery routes: GET /jobs, POST /jobs/redeliver, GET /conversations.
 * Inputs in Elysia's `t` (a query's `limit` arrives as text), answers in plain TypeBox, as the
 * contract's fields are: JSON as sent.
 */

export const LIST_LIMIT_DEFAULT = 50
export const LIST_LIMIT_MAX = 500
export const SEARCH_MAX_CHARS = 200
/** Jobs one POST /jobs/redeliver schedules at most. */
export const REDELIVER_BATCH = 1000

const Status = StringEnum(JOB_STATUSES, { description: 'Where the job stands; see GET /jobs/{id}.' })
const ConversationId = t.String({
  pattern: CONVERSATION_ID_PATTERN,
  'x-error': 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -',
  description: 'Only jobs of this conversation (every client’s of that id, for an admin key).',
  examples: ['customer-42'],
})
const Owner = Type.String({
  description:
    'The client whose it is: the name of its key (`name:key` entries), `key:` and a digest prefix for an unnamed key, empty without API keys.',
  examples: ['shop'],
})
const Limit = t.Integer({
  minimum: 1,
  maximum: LIST_LIMIT_MAX,
  default: LIST_LIMIT_DEFAULT,
  // Elysia reports a coerced query number out of range at the root: the message names the field.
  'x-error': `limit must be a whole number from 1 to ${LIST_LIMIT_MAX}`,
  description: `Items per page, 1 to ${LIST_LIMIT_MAX}.`,
})
const Cursor = t.String({
  minLength: 1,
  maxLength: 1024,
  description: 'The `next_cursor` of the previous page; left out, the first page.',
  examples: ['WyJqIiwxNzY3MjY5NjAwMDAwLDQyXQ'],
})
const NextCursor = Nullable(
  Type.String({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
)
const Since = (what: string) =>
  t.String({ format: 'date-time', description: `${what} (ISO 8601).`, examples: ['2026-01-01T00:00:00Z'] })

export const JobListQuery = t.Object({
  // Each checked by the route: a failed check inside Elysia's decoding of a query array is
  // not a ValidationError, and would answer 500. TypeBox leaves `enum` on a string to us.
  status: t.Optional(
    t.Array(t.String({ enum: [...JOB_STATUSES] }), {
      maxItems: JOB_STATUSES.length,
      description:
        'Only jobs in these statuses: repeat the parameter (`status=dead&status=queued`) or join with commas.',
      examples: [['dead']],
    }),
  ),
  conversation_id: t.Optional(ConversationId),
  created_after: t.Optional(Since('Only jobs accepted at or after this time')),
  created_before: t.Optional(Since('Only jobs accepted before this time')),
  q: t.Optional(
    t.String({
      minLength: 1,
      maxLength: SEARCH_MAX_CHARS,
      description: `Only jobs whose message contains this text, exactly (case-sensitive). A page searches the next ${TEXT_SEARCH_WINDOW} jobs of each status at most, so it may hold fewer than \`limit\` (even none) and still have a \`next_cursor\`.`,
      examples: ['invoice'],
    }),
  ),
  limit: t.Optional(Limit),
  cursor: t.Optional(Cursor),
})

export const JobSummary = Type.Object(
  {
    id: Type.String({ examples: ['0193a1b2-…'] }),
    owner: Owner,
    conversation_id: Type.String({ examples: ['customer-42'] }),
    sequence: Type.Integer({ description: 'Its number in the conversation: 1, 2, 3, …', examples: [3] }),
    status: Status,
    model: Type.String({ examples: ['meta-llama/llama-3.3-70b-instruct:free'] }),
    message_preview: Type.String({
      description: `The first ${MESSAGE_PREVIEW_CHARS} characters of the message; GET /jobs/{id} has all of it.`,
      examples: ['What is the capital of France?'],
    }),
    // Why the LLM stage failed, or why its last attempt did; the codes are described on the schema.
    error_code: Nullable(ErrorCodeSchema),
    attempts: Type.Object({
      llm: Type.Integer({ description: 'LLM calls started.' }),
      delivery: Type.Integer({ description: 'Callback attempts made.' }),
    }),
    created_at: Timestamp('When it was accepted.'),
    updated_at: Timestamp('When its status or attempts last changed.'),
  },
  { description: 'A job in a listing: GET /jobs/{id} has the rest (answer, error, every attempt).' },
)

export const JobList = Type.Object(
  { data: Type.Array(JobSummary, { description: 'Newest first.' }), next_cursor: NextCursor },
  {
    description: 'One page of jobs.',
    examples: [
      {
        data: [
          {
            id: '0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b',
            owner: 'shop',
            conversation_id: 'customer-42',
            sequence: 3,
            status: 'dead',
            model: 'meta-llama/llama-3.3-70b-instruct:free',
            message_preview: 'Where is my order?',
            error_code: null,
            attempts: { llm: 1, delivery: 8 },
            created_at: '2026-01-01T12:00:00.000Z',
            updated_at: '2026-01-02T16:10:00.000Z',
          },
        ],
        next_cursor: 'WyJqIiwxNzY3MjY5NjAwMDAwLDQyXQ',
      },
    ],
  },
)

export const RedeliverMatchingBody = t.Object(
  {
    // Literals, not UnionEnum: that one defaults to its first value, and a bulk action needs naming.
    status: t.Union([t.Literal('dead'), t.Literal('delivered')], {
      description: '`dead`: every callback attempt failed; `delivered`: send again what was delivered.',
      examples: ['dead'],
    }),
    since: t.Optional(Since('Only jobs accepted at or after this time')),
    until: t.Optional(Since('Only jobs accepted before this time')),
    conversation_id: t.Optional(ConversationId),
  },
  { description: 'Which finished jobs to send again: the same filters as GET /jobs.' },
)

export const RedeliverMatchingAccepted = Type.Object(
  {
    scheduled: Type.Integer({
      description: `Jobs scheduled for delivery by this call, at most ${REDELIVER_BATCH}.`,
      examples: [120],
    }),
    more: Type.Boolean({ description: 'More jobs match: call again (it takes the next ones).' }),
  },
  { description: 'The jobs are back in delivery, on a fresh retry schedule.' },
)

export const ConversationListQuery = t.Object({ limit: t.Optional(Limit), cursor: t.Optional(Cursor) })

export const ConversationSummary = Type.Object(
  {
    id: Type.String({ examples: ['customer-42'] }),
    owner: Owner,
    messages: Type.Integer({
      description: 'Messages accepted in it (its latest `sequence`); forgetting its history keeps the count.',
      examples: [3],
    }),
    last_message_at: Timestamp('When its latest message was accepted.'),
    open_jobs: Type.Integer({
      description: 'Messages accepted and not yet answered, failed or cancelled.',
      examples: [1],
    }),
  },
  { description: 'A conversation the relay keeps counters for (also after its history was forgotten).' },
)

export const ConversationList = Type.Object(
  {
    data: Type.Array(ConversationSummary, {
      description: 'Most recently active first: by when its latest message was accepted.',
    }),
    next_cursor: NextCursor,
  },
  {
    description: 'One page of conversations.',
    examples: [
      {
        data: [
          {
            id: 'customer-42',
            owner: 'shop',
            messages: 3,
            last_message_at: '2026-01-01T12:00:03.000Z',
            open_jobs: 0,
          },
        ],
        next_cursor: null,
      },
    ],
  },
)

import { Type } from '@sinclair/typebox'
import { Nullable, StringEnum } from '../contract/fields.ts'

const DAY = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}$',
  'x-error': 'must be a UTC day, YYYY-MM-DD',
  examples: ['2026-01-01'],
})

export const UsageQuery = Type.Object(
  {
    from: Type.Optional({ ...DAY, description: 'First UTC day, included; default 30 days before `to`.' }),
    to: Type.Optional({ ...DAY, description: 'Last UTC day, included; default today.' }),
    group_by: Type.Optional(
      StringEnum(['client', 'model', 'day'] as const, {
        description: 'What each line is; default `client`.',
      }),
    ),
  },
  { additionalProperties: false },
)

export const UsageReport = Type.Object(
  {
    from: DAY,
    to: DAY,
    group_by: StringEnum(['client', 'model', 'day'] as const),
    usage: Type.Array(
      Type.Object({
        key: Type.String({
          description: 'The client (its name), the model or the day, by `group_by`.',
          examples: ['acme'],
        }),
        client_id: Type.Optional(
          Nullable(
            Type.String({ description: 'For `group_by=client`: a stored client’s id; null for API_KEYS.' }),
          ),
        ),
        jobs: Type.Integer({ description: 'Answers stored.', examples: [120] }),
        prompt_tokens: Type.Integer({ examples: [48_000] }),
        completion_tokens: Type.Integer({ examples: [12_000] }),
        total_tokens: Type.Integer({ examples: [60_000] }),
        cost: Nullable(
          Type.Number({
            description: 'In the provider’s credits, where it reported a cost (OpenRouter).',
            examples: [0.42],
          }),
        ),
      }),
      { description: 'Sorted by key.' },
    ),
  },
  {
    description:
      'What answered LLM calls used. A client key sees its own; an admin key (or a relay without keys) every client’s.',
  },
)

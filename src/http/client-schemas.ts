import { type Static, Type } from '@sinclair/typebox'
import { Nullable, Timestamp } from '../contract/fields.ts'

/** The admin routes' shapes: validation, types and the OpenAPI document from one definition. */

const EXAMPLE_CLIENT_ID = '0196f0c4-7d1e-7a51-9c3b-2f4e5d6a7b8c'

const ClientName = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  'x-error': 'must be 1 to 64 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit)',
  description: 'For logs and the operator; unique among clients.',
  examples: ['acme'],
})

// A host name (RFC 1123) or a `.suffix` of one, as CALLBACK_ALLOWED_HOSTS takes them.
const HOST_PATTERN =
  '^\\.?(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?$'

const settings = {
  allowed_callback_hosts: Nullable(
    Type.Array(
      Type.String({
        pattern: HOST_PATTERN,
        'x-error': 'must be a host name like hooks.example.com or a suffix like .example.com',
      }),
      {
        maxItems: 32,
        description:
          'Host names (`hooks.example.com`) or suffixes (`.example.com`) its callback URLs may name, within `CALLBACK_ALLOWED_HOSTS`; null: any the relay allows.',
        examples: [['hooks.acme.example']],
      },
    ),
  ),
  rate_limit: Nullable(
    Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      description: 'Requests per `RATE_LIMIT_WINDOW`; null: `RATE_LIMIT_MAX`.',
      examples: [120],
    }),
  ),
  llm_rpm: Nullable(
    Type.Integer({
      minimum: 1,
      maximum: 100_000,
      description: 'LLM calls a minute for its jobs, within `LLM_MAX_RPM`; null: no cap of its own.',
      examples: [10],
    }),
  ),
  daily_token_budget: Nullable(
    Type.Integer({
      minimum: 1,
      maximum: 1e15,
      description: 'Tokens a UTC day; once spent its jobs wait for the next day. Null: no budget.',
      examples: [2_000_000],
    }),
  ),
  model: Nullable(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'Model for its messages that name none; null: `LLM_MODEL`.',
      examples: ['meta-llama/llama-3.3-70b-instruct:free'],
    }),
  ),
  system_prompt: Nullable(
    Type.String({
      maxLength: 32_000,
      pattern: '^[^\\u0000]*$',
      'x-error': 'must be at most 32000 characters, without U+0000',
      description: 'System prompt for its messages that bring none; null: `SYSTEM_PROMPT`.',
      examples: ['You answer for ACME support. Be brief.'],
    }),
  ),
}

const optionalSettings = Type.Partial(Type.Object(settings)).properties

export const NewClientBody = Type.Object(
  { name: ClientName, ...optionalSettings },
  {
    additionalProperties: false,
    description: 'A client: a name, and the settings it does not share with the relay.',
    examples: [
      { name: 'acme', rate_limit: 120, llm_rpm: 10, allowed_callback_hosts: ['hooks.acme.example'] },
    ],
  },
)
export type NewClientBody = Static<typeof NewClientBody>

export const ClientPatchBody = Type.Object(
  {
    name: Type.Optional(ClientName),
    disabled: Type.Optional(
      Type.Boolean({ description: 'A disabled client’s key gets 403; its jobs in flight go on.' }),
    ),
    ...optionalSettings,
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description: 'The fields to change; null sets a setting back to the relay-wide one.',
    examples: [{ llm_rpm: 20, model: null }],
  },
)
export type ClientPatchBody = Static<typeof ClientPatchBody>

const clientFields = {
  id: Type.String({ description: 'The client’s id.', examples: [EXAMPLE_CLIENT_ID] }),
  name: ClientName,
  ...settings,
  disabled: Type.Boolean(),
  previous_secret_valid_until: Nullable(
    Timestamp('Until when callbacks also carry the signature of the secret before the last rotation.'),
  ),
  created_at: Timestamp(),
  updated_at: Timestamp(),
}

export const ClientView = Type.Object(clientFields, {
  description: 'A client, without its API key (kept only as a hash) or its signing secret.',
})
export type ClientView = Static<typeof ClientView>

export const ClientList = Type.Object(
  { clients: Type.Array(ClientView, { description: 'Oldest first.' }) },
  { description: 'Every client not deleted.' },
)

const ApiKeyField = Type.String({
  description: 'The client’s API key, shown this once: only its SHA-256 is kept.',
  examples: ['lrk_3q2-7wHlWm0sJ8yZ1vXkq9cRr2bTnE5uAf6dGh4jK0o'],
})
const SigningSecretField = Type.String({
  description: 'The Standard Webhooks secret its callbacks are signed with, shown this once.',
  examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJq1k3m5n7pQ='],
})

export const CreatedClient = Type.Object(
  { ...clientFields, api_key: ApiKeyField, signing_secret: SigningSecretField },
  { description: 'The new client, with its API key and signing secret: neither is shown again.' },
)

export const RotatedKey = Type.Object(
  { api_key: ApiKeyField },
  { description: 'The new key; the old one no longer works.' },
)

export const RotatedSecret = Type.Object(
  {
    signing_secret: SigningSecretField,
    previous_valid_until: Timestamp(
      'Until then callbacks carry both signatures (`v1,<new> v1,<old>`): move the receiver to the new secret before.',
    ),
  },
  { description: 'The new signing secret and the end of the grace period.' },
)

export const ClientParams = Type.Object({
  id: Type.String({ maxLength: 64, description: 'Client id.', examples: [EXAMPLE_CLIENT_ID] }),
})

import { Type } from '@sinclair/typebox'
import { JobErrorSchema, Nullable, StringEnum, Timestamp } from '../contract/fields.ts'

/** GET /callback-origins: the health of each callback receiver, as the breaker sees it. */
export const CallbackOrigin = Type.Object(
  {
    origin: Type.String({ description: 'Scheme, host and port.', examples: ['https://hooks.example.com'] }),
    state: StringEnum(['closed', 'open'] as const, {
      description:
        '`open`: its deliveries wait without spending attempts, one probe every `CALLBACK_BREAKER_PROBE`; `closed`: they go.',
    }),
    failures: Type.Integer({
      description: 'Failed attempts in a row, across jobs, since its last success.',
      examples: [10],
    }),
    last_error: Nullable(JobErrorSchema),
    last_failure_at: Nullable(Timestamp()),
    opened_at: Nullable(Timestamp()),
    next_probe_at: Nullable(Timestamp('While open: when the next probe may go.')),
    backlog: Type.Integer({ description: 'Its deliveries not yet delivered or dead.', examples: [42] }),
  },
  { description: 'One callback origin.' },
)

export const CallbackOriginList = Type.Object(
  { origins: Type.Array(CallbackOrigin, { description: 'Open ones first, then by failure streak.' }) },
  { description: 'Every origin that has failed at least once (healthy ones have no entry).' },
)

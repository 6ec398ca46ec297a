/**
 * Longer than most files on purpose: the whole lifecycle is one table, read at once.
 *
 * The words every room shares: a job's states, the table of the transitions between them,
 * and the closed set of error codes that logs, the jobs API and callbacks all use.
 *
 * A new status enters here: add it to JOB_STATUSES and its rows to TRANSITIONS; the store
 * tests then ask for a migration that allows it (the CHECK on `jobs.status`), a statement
 * per new row in each adapter, and a driver for each new event in the transition walk; the
 * state diagram in docs/architecture.md is regenerated from this table.
 */
export const JOB_STATUSES = [
  'queued',
  'processing',
  'awaiting_tool_results',
  'delivering',
  'delivered',
  'dead',
  'cancelled',
] as const
export type JobStatus = (typeof JOB_STATUSES)[number]

export const JOB_EVENTS = [
  'accepted',
  'accepted and claimed',
  'claimed',
  'answered',
  'llm retry',
  'llm failed',
  'delivered',
  'delivery retry',
  'delivery deferred',
  'dead',
  'redelivered',
  'lease expired',
  'lease released',
  'cancelled',
  'tool calls',
  'tool calls attempt',
  'tool results submitted',
  'tool results timeout',
] as const
export type JobEvent = (typeof JOB_EVENTS)[number]

export interface Transition {
  event: JobEvent
  /** `null`: the job does not exist yet. */
  from: JobStatus | null
  to: JobStatus
  /** What the store promises when it makes this step (one statement or one transaction). */
  guarantee: string
}

/**
 * Every allowed step, and only these: a store refuses any other (status, event) pair and
 * changes nothing. "Lease holder only" means the step is taken only for the worker named as
 * the job's `lease_owner`, which another claim replaces.
 */
export const TRANSITIONS: readonly Transition[] = [
  {
    event: 'accepted',
    from: null,
    to: 'queued',
    guarantee:
      'One transaction with the conversation row: numbered in its line, waiting behind an open job of its conversation, committed before the 202.',
  },
  {
    event: 'accepted and claimed',
    from: null,
    to: 'processing',
    guarantee:
      'As accepted, by a process with a free LLM slot, and only for the head of its conversation (none open before it; else it is accepted as queued): leased to that worker until now + JOB_LEASE, one LLM attempt counted, in the same transaction; no claim follows.',
  },
  {
    event: 'claimed',
    from: 'queued',
    to: 'processing',
    guarantee:
      'Due and the head of its conversation only; one claimer wins; counts one LLM attempt; leased until now + JOB_LEASE.',
  },
  {
    event: 'claimed',
    from: 'delivering',
    to: 'delivering',
    guarantee:
      'Due for a callback only (its retry time came, or its lease ran out); one claimer wins; leased for one attempt.',
  },
  {
    event: 'claimed',
    from: 'awaiting_tool_results',
    to: 'awaiting_tool_results',
    guarantee:
      'Due for the job.tool_calls event only (its first attempt was not made, its retry time came, or its lease ran out); one claimer wins; leased for one attempt.',
  },
  {
    event: 'answered',
    from: 'processing',
    to: 'delivering',
    guarantee:
      'Lease holder only. One transaction: the answer stored, user and assistant messages appended once, the next message of the conversation released; still leased for its first callback.',
  },
  {
    event: 'llm retry',
    from: 'processing',
    to: 'queued',
    guarantee:
      'Lease holder only. Lease dropped, due again at the retry time, error kept; the attempt stays counted unless it was a quota wait.',
  },
  {
    event: 'llm failed',
    from: 'processing',
    to: 'delivering',
    guarantee:
      'Lease holder only. Error stored, nothing joins history, the next message of the conversation released; job.failed is delivered.',
  },
  {
    event: 'tool calls',
    from: 'processing',
    to: 'awaiting_tool_results',
    guarantee:
      'Lease holder only. One transaction: the assistant’s tool calls stored as a new round (nothing joins history yet, the conversation stays blocked), results due by now + TOOL_RESULTS_TIMEOUT; still leased for the first attempt of its job.tool_calls event.',
  },
  {
    event: 'tool calls attempt',
    from: 'awaiting_tool_results',
    to: 'awaiting_tool_results',
    guarantee:
      'Lease holder only. The attempt row and the outcome in one transaction: delivered, or due again at the next time of CALLBACK_RETRY_SCHEDULE, or (the schedule run out, the address refused) not tried again; lease dropped, results still accepted.',
  },
  {
    event: 'tool results submitted',
    from: 'awaiting_tool_results',
    to: 'queued',
    guarantee:
      'Owner only, every call of the round answered exactly once. One transaction: the results stored with their round, due now for the next LLM call (the attempts of the round start again), the event’s lease dropped.',
  },
  {
    event: 'tool results timeout',
    from: 'awaiting_tool_results',
    to: 'delivering',
    guarantee:
      'Time alone, swept by the claim loop once TOOL_RESULTS_TIMEOUT is over: error stored, nothing joins history, the next message of the conversation released; job.failed is delivered.',
  },
  {
    event: 'delivered',
    from: 'delivering',
    to: 'delivered',
    guarantee: 'Lease holder only. The attempt row and the outcome in one transaction.',
  },
  {
    event: 'delivery retry',
    from: 'delivering',
    to: 'delivering',
    guarantee:
      'Lease holder only. The attempt recorded, lease dropped, due again at the next time of CALLBACK_RETRY_SCHEDULE.',
  },
  {
    event: 'delivery deferred',
    from: 'delivering',
    to: 'delivering',
    guarantee:
      'Lease holder only. No attempt made or counted: its callback origin is open (the breaker) or busy (CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN); lease dropped, due again at the given time.',
  },
  {
    event: 'delivery deferred',
    from: 'awaiting_tool_results',
    to: 'awaiting_tool_results',
    guarantee:
      'Lease holder only. The job.tool_calls event waits for its callback origin as a callback does: no attempt made or counted, lease dropped, due again at the given time; results are still taken.',
  },
  {
    event: 'dead',
    from: 'delivering',
    to: 'dead',
    guarantee:
      'Lease holder only. The attempt recorded; the schedule ran out or the address is refused. Kept and redeliverable.',
  },
  {
    event: 'redelivered',
    from: 'delivered',
    to: 'delivering',
    guarantee: 'Owner only. Due now on a fresh schedule; the stored answer is sent again, never regenerated.',
  },
  {
    event: 'redelivered',
    from: 'dead',
    to: 'delivering',
    guarantee: 'Owner only. Due now on a fresh schedule; the stored answer is sent again, never regenerated.',
  },
  {
    event: 'lease expired',
    from: 'processing',
    to: 'queued',
    guarantee:
      'Time alone: nothing is written when a lease runs out. The row keeps `processing` past its lease, reads as `queued` and is claimed like a queued job; the attempt stays counted, and the holder may still finish it until another worker claims it. A holder known to be dead has its leases expired at once.',
  },
  {
    event: 'lease expired',
    from: 'delivering',
    to: 'delivering',
    guarantee: 'Time alone: the callback is due again for any worker.',
  },
  {
    event: 'lease released',
    from: 'processing',
    to: 'queued',
    guarantee: 'Lease holder only (shutdown): due now for any worker, the unfinished LLM attempt given back.',
  },
  {
    event: 'lease released',
    from: 'delivering',
    to: 'delivering',
    guarantee: 'Lease holder only (no free callback slot, or shutdown): due now for any worker.',
  },
  {
    event: 'lease expired',
    from: 'awaiting_tool_results',
    to: 'awaiting_tool_results',
    guarantee: 'Time alone: the job.tool_calls event is due again for any worker.',
  },
  {
    event: 'lease released',
    from: 'awaiting_tool_results',
    to: 'awaiting_tool_results',
    guarantee:
      'Lease holder only (no free callback slot, or shutdown): the job.tool_calls event due now for any worker.',
  },
  {
    event: 'cancelled',
    from: 'queued',
    to: 'cancelled',
    guarantee:
      'Owner only. One transaction: nothing joins history, no callback is sent. The head of its conversation ends its turn as a failure does (the next message released); a job waiting its turn leaves the line, which keeps its order.',
  },
  {
    event: 'cancelled',
    from: 'processing',
    to: 'cancelled',
    guarantee:
      'Owner only. One transaction: the lease taken from its holder, the turn ended as a failure ends it (the next message released); nothing joins history, no callback is sent. The holder learns it within a second and aborts the LLM call; an answer that comes anyway is refused.',
  },
  {
    event: 'cancelled',
    from: 'delivering',
    to: 'cancelled',
    guarantee:
      'Owner only. The lease taken from its holder: no callback attempt is claimed again; one in flight may still reach the receiver, but its outcome is not recorded. The answer already in history stays.',
  },
  {
    event: 'cancelled',
    from: 'awaiting_tool_results',
    to: 'cancelled',
    guarantee:
      'Owner only. One transaction: the turn ended as a failure ends it (the next message released); nothing joins history, no callback is sent, results sent later are refused. A job.tool_calls attempt in flight may still reach the receiver, but its outcome is not recorded.',
  },
]

/** The step `event` takes from `from`, or undefined where the table has none (a refusal). */
export function transitionFor(from: JobStatus | null, event: JobEvent): Transition | undefined {
  return TRANSITIONS.find((t) => t.from === from && t.event === event)
}

/**
 * The table as a mermaid state diagram, the one in docs/architecture.md: steps between the
 * same two states share an arrow; a status nothing leaves ends in `[*]`.
 */
export function renderStateDiagram(): string {
  const arrows = new Map<string, JobEvent[]>()
  for (const t of TRANSITIONS) {
    const key = `${t.from ?? '[*]'} --> ${t.to}`
    arrows.set(key, [...(arrows.get(key) ?? []), t.event])
  }
  const lines = [...arrows].map(([arrow, events]) => `  ${arrow}: ${events.join(', ')}`)
  for (const status of JOB_STATUSES)
    if (!TRANSITIONS.some((t) => t.from === status)) lines.push(`  ${status} --> [*]`)
  return ['stateDiagram-v2', ...lines].join('\n')
}

export const ERROR_CODES = {
  llm_auth: 'The LLM API refused the key (401), or no key is configured.',
  llm_payment_required: 'The LLM account has no credits left (402).',
  llm_forbidden: 'The LLM API refused the request, e.g. by moderation (403).',
  llm_model_not_found: 'The model is unknown to the LLM API (404).',
  llm_bad_request: 'The LLM API rejected the request as invalid (400 or another 4xx).',
  llm_rate_limited: 'The LLM API kept answering 429 until the retries ran out.',
  llm_timeout: 'The LLM call took longer than LLM_TIMEOUT on every attempt.',
  llm_unavailable: 'The LLM API kept failing (5xx, 408 or connection errors) until the retries ran out.',
  llm_error: 'The LLM API answered 200 with an error inside, or without an answer.',
  llm_response_too_large: 'The answer was longer than MAX_RESPONSE_CHARS; it never joins history.',
  llm_invalid_output:
    'The answer was not the JSON its response_format asks for, or called tools that do not exist or with arguments that do not fit, again after the model was shown why; the error holds the last answer.',
  llm_tool_rounds: 'The model asked for tools once more after MAX_TOOL_ROUNDS rounds of tool calls.',
  tool_results_timeout: 'No tool results came within TOOL_RESULTS_TIMEOUT of the job.tool_calls event.',
  client_llm_rpm:
    'Not an error of the job: its client started its llm_rpm of LLM calls in the last minute; it waits (no attempt spent).',
  client_daily_tokens:
    'Not an error of the job: its client spent its daily_token_budget; it waits until the next UTC day (no attempt spent).',
  callback_http_status: 'The callback answered with a status other than 2xx.',
  callback_gone:
    'The callback answered 410 Gone: the receiver wants no more attempts, so the job is dead at once.',
  callback_redirect: 'The callback answered with a redirect; redirects are not followed.',
  callback_timeout: 'The callback did not answer within CALLBACK_TIMEOUT.',
  callback_connection: 'The callback URL could not be reached.',
  callback_forbidden: 'The callback address is not allowed (private, loopback, link-local, …).',
  callback_secret_unavailable:
    'The callback was not sent: its client’s signing secret or its callback headers could not be read (the DATA_ENCRYPTION_KEY that sealed them is missing, or the database did not answer); tried again on the schedule.',
} as const
export type ErrorCode = keyof typeof ERROR_CODES

export interface JobError {
  code: ErrorCode
  message: string
}

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  /** What the call cost in the provider's credits (OpenRouter's usage accounting); absent elsewhere. */
  cost?: number
}

/** The usage of a job's calls together (its tool rounds and its answer); null when none reported any. */
export function sumUsage(a: Usage | null, b: Usage | null): Usage | null {
  if (a === null || b === null) return a ?? b
  const sum: Usage = {
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    total_tokens: a.total_tokens + b.total_tokens,
  }
  if (a.cost !== undefined || b.cost !== undefined) sum.cost = (a.cost ?? 0) + (b.cost ?? 0)
  return sum
}

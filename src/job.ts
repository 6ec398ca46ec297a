/**
 * The words every room shares: a job's states and the closed set of error codes that
 * logs, the jobs API and callbacks all use.
 */
export const JOB_STATUSES = ['queued', 'processing', 'delivering', 'delivered', 'dead'] as const
export type JobStatus = (typeof JOB_STATUSES)[number]

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
    'The answer was not the JSON its response_format asks for, again after the model was shown why; the error holds the last answer.',
  callback_http_status: 'The callback answered with a status other than 2xx.',
  callback_redirect: 'The callback answered with a redirect; redirects are not followed.',
  callback_timeout: 'The callback did not answer within CALLBACK_TIMEOUT.',
  callback_connection: 'The callback URL could not be reached.',
  callback_forbidden: 'The callback address is not allowed (private, loopback, link-local, …).',
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

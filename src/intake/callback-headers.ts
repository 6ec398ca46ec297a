/**
 * `callback_headers`: what a client asks to be sent with every callback attempt of a job (a
 * receiver's bearer token, typically). They are secrets of the receiver: stored sealed, never
 * shown but by name. They may not replace what the relay itself sends or what frames the
 * request: Host, the body's length and type, hop-by-hop headers and the webhook-* signature.
 */

export const MAX_CALLBACK_HEADERS = 8
const MAX_NAME = 64
const MAX_VALUE = 4096

// RFC 9110 §5.6.2: a field name is a token.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// RFC 9110 §5.5: visible characters, spaces and tabs; no CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

const REFUSED = new Set([
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'transfer-encoding',
  'user-agent',
  'expect',
  // RFC 9110 §7.6.1 hop-by-hop, and their older spellings
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
])

export interface HeaderProblem {
  /** The header as the client named it. */
  name: string
  message: string
}

/** What is wrong with each header a client asked for; empty when all may be sent. */
export function callbackHeaderProblems(headers: Record<string, string>): HeaderProblem[] {
  const names = Object.keys(headers)
  if (names.length > MAX_CALLBACK_HEADERS)
    return [{ name: '', message: `at most ${MAX_CALLBACK_HEADERS} headers` }]
  const problems: HeaderProblem[] = []
  const seen = new Set<string>()
  for (const name of names) {
    const lower = name.toLowerCase()
    const value = headers[name] as string
    if (name.length > MAX_NAME || !TOKEN.test(name))
      problems.push({
        name,
        message: `is not a header name (an HTTP token of at most ${MAX_NAME} characters)`,
      })
    else if (REFUSED.has(lower) || lower.startsWith('webhook-'))
      problems.push({ name, message: 'is set by the relay or the connection and cannot be sent' })
    else if (seen.has(lower)) problems.push({ name, message: 'is given twice (header names ignore case)' })
    else if (typeof value !== 'string' || value.length > MAX_VALUE || !FIELD_VALUE.test(value))
      problems.push({
        name,
        message: `must have a value of at most ${MAX_VALUE} characters without line breaks or NUL`,
      })
    seen.add(lower)
  }
  return problems
}

/** Header names in lower case, sorted: what `GET /jobs/{id}` shows of them. */
export function callbackHeaderNames(headers: Record<string, string>): string[] {
  return Object.keys(headers)
    .map((name) => name.toLowerCase())
    .sort()
}

/** The context callback headers are sealed for: this job's row. */
export const callbackHeadersContext = (jobId: string): string => `job:${jobId}:callback_headers`

const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(?:;|$)/i
const MAX_FORM_BYTES = 64 * 1024

/**
 * A console form's fields. Forms are small (a token, a key, at most a page of job ids):
 * anything else, or anything larger, reads as an empty form, which every action refuses.
 */
export async function readForm(request: Request): Promise<URLSearchParams> {
  if (!FORM_TYPE.test(request.headers.get('content-type') ?? '')) return new URLSearchParams()
  const declared = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declared > MAX_FORM_BYTES) return new URLSearchParams()
  const text = await request.text()
  return text.length > MAX_FORM_BYTES ? new URLSearchParams() : new URLSearchParams(text)
}

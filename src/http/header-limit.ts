import { Elysia } from 'elysia'
import { headersTooLarge } from './problem.ts'

/**
 * Below Bun's own limits (16 KiB of request line and headers, about 200 fields), past which
 * Bun answers 431 itself with an empty body: up to those, the relay refuses in its own words.
 */
export const MAX_HEADER_BYTES = 12 * 1024
export const MAX_HEADER_FIELDS = 100

/** Request line and header fields as they came, near enough: name, value and their separators. */
function headerSize(request: Request): { bytes: number; fields: number } {
  let bytes = request.method.length + request.url.length + 11
  let fields = 0
  for (const [name, value] of request.headers) {
    bytes += name.length + value.length + 4
    fields++
  }
  return { bytes, fields }
}

export function headerLimit() {
  return new Elysia().onRequest(({ request }) => {
    const { bytes, fields } = headerSize(request)
    if (bytes > MAX_HEADER_BYTES || fields > MAX_HEADER_FIELDS)
      throw headersTooLarge(MAX_HEADER_BYTES, MAX_HEADER_FIELDS)
  })
}

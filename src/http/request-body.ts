import { Problem } from './problem.ts'

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i
// One decoder for every body: decode() without { stream } keeps no state between calls.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/**
 * Reads a JSON body under a byte limit, before anything else looks at it: 415 for another
 * content type, 413 past the limit (also when the body streams without a length), 400 when
 * it does not parse.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const type = request.headers.get('content-type') ?? ''
  if (!JSON_TYPE.test(type))
    throw new Problem(
      415,
      `Send the body as application/json (got ${type === '' ? 'no content type' : `"${type.slice(0, 100)}"`}).`,
    )
  const declared = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declared > maxBytes) throw tooLarge(maxBytes)
  // With a declared length the server reads exactly that many bytes: one native read, no stream.
  const bytes = Number.isFinite(declared)
    ? new Uint8Array(await request.arrayBuffer())
    : await readCapped(request, maxBytes)
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes)
  let parsed: unknown
  try {
    parsed = JSON.parse(UTF8.decode(bytes))
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : 'the body is not valid UTF-8'
    throw new Problem(400, `The body is not valid JSON: ${reason}`)
  }
  return parsed
}

/** A body without a declared length (chunked): read as it streams, refused once past the limit. */
async function readCapped(request: Request, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let size = 0
  if (request.body) {
    for await (const chunk of request.body) {
      size += chunk.byteLength
      if (size > maxBytes) throw tooLarge(maxBytes)
      chunks.push(chunk)
    }
  }
  return Buffer.concat(chunks)
}

function tooLarge(maxBytes: number): Problem {
  return new Problem(413, `The body is larger than ${maxBytes} bytes.`)
}

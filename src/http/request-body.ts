import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.ts'
import { bodyTooDeep, bodyTooLarge, unreadableBody, unsupportedBodyType } from './problem.ts'

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i
// One decoder for every body: decode() without { stream } keeps no state between calls.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/**
 * Reads a JSON body under a byte limit, before anything else looks at it: 415 for another
 * content type, 413 past the limit (also when the body streams without a length), 400 when
 * it does not parse or nests deeper than MAX_JSON_DEPTH.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const type = request.headers.get('content-type') ?? ''
  if (!JSON_TYPE.test(type)) throw unsupportedBodyType(type)
  const declared = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declared > maxBytes) throw bodyTooLarge(maxBytes)
  // With a declared length the server reads exactly that many bytes: one native read, no stream.
  const bytes = Number.isFinite(declared)
    ? new Uint8Array(await request.arrayBuffer())
    : await readCapped(request, maxBytes)
  if (bytes.byteLength > maxBytes) throw bodyTooLarge(maxBytes)
  let text: string
  try {
    text = UTF8.decode(bytes)
  } catch {
    throw unreadableBody('the body is not valid UTF-8')
  }
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) throw bodyTooDeep(MAX_JSON_DEPTH)
  try {
    return JSON.parse(text)
  } catch (error) {
    throw unreadableBody(error instanceof SyntaxError ? error.message : String(error))
  }
}

/** A body without a declared length (chunked): read as it streams, refused once past the limit. */
async function readCapped(request: Request, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let size = 0
  if (request.body) {
    for await (const chunk of request.body) {
      size += chunk.byteLength
      if (size > maxBytes) throw bodyTooLarge(maxBytes)
      chunks.push(chunk)
    }
  }
  return Buffer.concat(chunks)
}

import { Problem } from './problem.ts'

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

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
  const chunks: Uint8Array[] = []
  let size = 0
  if (request.body) {
    for await (const chunk of request.body) {
      size += chunk.byteLength
      if (size > maxBytes) throw tooLarge(maxBytes)
      chunks.push(chunk)
    }
  }
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
  let parsed: unknown
  try {
    parsed = JSON.parse(text.decode(Buffer.concat(chunks)))
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : 'the body is not valid UTF-8'
    throw new Problem(400, `The body is not valid JSON: ${reason}`)
  }
  return parsed
}

function tooLarge(maxBytes: number): Problem {
  return new Problem(413, `The body is larger than ${maxBytes} bytes.`)
}

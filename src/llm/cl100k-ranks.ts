import tiktoken from 'gpt-tokenizer/data/cl100k_base.tiktoken' with { type: 'text' }

/**
 * cl100k_base's ranks, read from the package's `.tiktoken` file (a base64 token and its rank a
 * line) in the form gpt-tokenizer keeps them: a token that is UTF-8 as its text, any other as
 * its bytes. The package's own ranks are one JavaScript array literal of 100 000 strings,
 * which costs the parser about 20 MB more resident memory than this (measured: +51–57 MB
 * against +31–37 MB); a test holds the two equal.
 */
export function cl100kRanks(): (string | number[])[] {
  const utf8 = new TextDecoder('utf-8', { fatal: true })
  const ranks: (string | number[])[] = []
  let start = 0
  while (start < tiktoken.length) {
    let end = tiktoken.indexOf('\n', start)
    if (end === -1) end = tiktoken.length
    const space = tiktoken.indexOf(' ', start)
    if (space > start && space < end) {
      const bytes = Buffer.from(tiktoken.slice(start, space), 'base64')
      ranks[Number(tiktoken.slice(space + 1, end))] = asToken(utf8, bytes)
    }
    start = end + 1
  }
  return ranks
}

function asToken(utf8: TextDecoder, bytes: Buffer): string | number[] {
  try {
    const text = utf8.decode(bytes)
    // A leading byte-order mark is dropped by the decoder: such a token stays bytes.
    if (Buffer.byteLength(text) === bytes.length) return text
  } catch {
    // Not UTF-8 on its own: a part of a character.
  }
  return Array.from(bytes)
}

/** How deep a body may nest arrays and objects: deeper than any real message needs. */
export const MAX_JSON_DEPTH = 32

/**
 * Whether JSON text nests `[`/`{` deeper than `maxDepth`, found in one pass over the text
 * (brackets inside strings do not count). Runs before JSON.parse: a body of 32 000 `[` would
 * otherwise cost seconds in parsing and validation, and overflow the stack formatting errors.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > maxDepth) return true
    } else if (c === 93 /* ] */ || c === 125 /* } */) depth--
  }
  return false
}

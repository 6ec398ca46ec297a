/**
 * Writing values the way Bun reads `.env` (checked against Bun 1.4.5): an unquoted value ends at
 * `#` and is trimmed, `$NAME` expands in every kind of quote, `\$` keeps a literal `$`, and inside
 * double quotes or backticks `\n` and `\r` become line breaks. A double quote cannot be escaped
 * inside double quotes, hence the backticks.
 */
const PLAIN = /^[^\s#$\\'"`]([^#$\\'"`\n\r]*[^\s#$\\'"`])?$/

/** `value` spelled for one `NAME=…` line of a `.env` file; undefined when no spelling reads back as it. */
export function envFileValue(value: string): string | undefined {
  if (value === '' || PLAIN.test(value)) return value
  // Backslashes are literal to Bun except before `$`, `n` and `r`, which quoting cannot protect.
  if (/\\[$nr]/.test(value) || value.endsWith('\\')) return undefined
  const escaped = value.replaceAll('$', '\\$')
  if (!value.includes('"')) return `"${escaped}"`
  if (!value.includes('`')) return `\`${escaped}\``
  return undefined
}

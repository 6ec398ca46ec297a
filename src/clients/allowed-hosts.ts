/**
 * A client's `allowed_callback_hosts`: host names, or `.suffix`es that match any name under
 * them, compared as the address guard compares CALLBACK_ALLOWED_HOSTS (lower case, no
 * trailing dots). Checked when a job is accepted; the relay-wide list and the address guard
 * still apply at every delivery.
 */
export function callbackHostAllowed(callbackUrl: string, hosts: readonly string[]): boolean {
  const parsed = URL.parse(callbackUrl)
  if (!parsed) return false
  const host = parsed.hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.+$/, '')
  return hosts.some((entry) => (entry.startsWith('.') ? host.endsWith(entry) : host === entry))
}

/**
 * Who is looking at the console. Without API keys everyone is `open` and sees what the open
 * API shows (every owner's); a client key sees its own jobs and conversations; an admin key
 * (ADMIN_API_KEYS) every client's.
 */
export type Viewer =
  | { kind: 'open' }
  | { kind: 'client'; name: string; owner: string }
  | { kind: 'admin'; name: string }

/** The owner whose data a viewer sees; undefined for every owner's (as the store's listings take it). */
export function ownerScope(viewer: Viewer): string | undefined {
  return viewer.kind === 'client' ? viewer.owner : undefined
}

/** The overview shows the whole relay (queue depth, error rates): not for one client's key. */
export function seesEverything(viewer: Viewer): boolean {
  return viewer.kind !== 'client'
}

export function describeViewer(viewer: Viewer): string {
  if (viewer.kind === 'open') return 'open access'
  return viewer.kind === 'admin' ? `${viewer.name} · admin` : `${viewer.name} · client`
}

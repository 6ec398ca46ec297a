/** A route as Elysia lists it in `app.routes`. */
export interface RouteEntry {
  method: string
  path: string
}

const literally = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** `/jobs/:id/redeliver` → a pattern matching `/jobs/<anything but a slash>/redeliver`. */
function patternOf(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => (segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : literally(segment)))
    .join('/')
  return new RegExp(`^${source}/?$`)
}

/**
 * The methods each path answers, for a 405 with `Allow` instead of a 404 when the path is known.
 * Read from the composed app's routes the first time it is asked (they are final by then).
 */
export class AllowedMethods {
  private table: { pattern: RegExp; methods: string[] }[] | undefined

  constructor(private readonly routes: () => readonly RouteEntry[]) {}

  /** The methods `path` answers (GET brings HEAD, as Bun answers it), none for an unknown path. */
  at(path: string): string[] {
    this.table ??= this.build()
    const methods = new Set<string>()
    for (const entry of this.table)
      if (entry.pattern.test(path)) for (const m of entry.methods) methods.add(m)
    return [...methods]
  }

  private build(): { pattern: RegExp; methods: string[] }[] {
    const byPath = new Map<string, Set<string>>()
    for (const route of this.routes()) {
      const method = route.method.toUpperCase()
      if (method === 'ALL' || method === 'WS') continue
      const methods = byPath.get(route.path) ?? new Set<string>()
      byPath.set(route.path, methods)
      methods.add(method)
      if (method === 'GET') methods.add('HEAD')
    }
    return [...byPath].map(([path, methods]) => ({ pattern: patternOf(path), methods: [...methods] }))
  }
}

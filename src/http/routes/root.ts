import { Elysia } from 'elysia'

/**
 * `GET /`: where to go from here, for whoever opens the relay's address in a browser or curl.
 * `links` holds only what this relay serves (the docs and the console, each when on).
 */
export function rootRoutes(links: Record<string, string>) {
  const index = { service: 'llm-relay', ...links, health: '/health', ready: '/ready' }
  return new Elysia({ name: 'root' }).get('/', () => index, { detail: { hide: true } })
}

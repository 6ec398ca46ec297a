import { Problem } from './problem.ts'

/** The operators' routes (clients, callback origins) answer 403 to any key but an ADMIN_API_KEYS one. */
export function adminOnly(isAdmin: (request: Request) => boolean, what: string): (request: Request) => void {
  return (request) => {
    if (!isAdmin(request)) throw new Problem(403, `${what} needs an ADMIN_API_KEYS key.`)
  }
}

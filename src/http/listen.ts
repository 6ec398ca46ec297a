import type { Server } from 'bun'
import { problemResponse, unexpectedFailure } from './problem.ts'

/** Start failed because the address cannot be had; the message names the setting to change. */
export class ListenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ListenError'
  }
}

interface Listening {
  listen(options: Record<string, unknown>): unknown
  server: Server<unknown> | null
}

/**
 * Listens on HOST:PORT alone. Elysia turns `reusePort` on, which lets a second relay bind the
 * same port and take half its requests unnoticed; here a taken port fails the start.
 */
export function listenOn(app: Listening, port: number, hostname: string): Server<unknown> {
  try {
    app.listen({
      port,
      hostname,
      reusePort: false,
      // Bun's own error page (with development on, a stack trace) never reaches a client: what
      // Elysia's error handling cannot answer is a problem too.
      development: false,
      error: () => problemResponse(unexpectedFailure(), ''),
    })
  } catch (error) {
    throw listenError(error, port, hostname)
  }
  if (!app.server) throw new ListenError(`could not listen on ${hostname}:${port} (HOST, PORT)`)
  return app.server
}

function listenError(error: unknown, port: number, hostname: string): ListenError {
  const code = (error as { code?: unknown })?.code
  if (code === 'EADDRINUSE')
    return new ListenError(
      `PORT=${port} is already in use on ${hostname}: another process listens there; stop it or choose another PORT`,
      { cause: error },
    )
  if (code === 'EACCES')
    return new ListenError(`PORT=${port} needs privileges this process lacks; choose a PORT above 1023`, {
      cause: error,
    })
  const reason = error instanceof Error ? error.message : String(error)
  return new ListenError(`could not listen on HOST=${hostname} PORT=${port}: ${reason}`, { cause: error })
}

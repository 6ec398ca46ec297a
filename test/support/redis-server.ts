import { freePort } from './free-port.ts'
import { Signal } from './signal.ts'

/**
 * A redis-server of the test's own, on its own port, without persistence: the test may kill,
 * pause and restart it without touching the shared one on 6379.
 */
export class RedisServer {
  private child: ReturnType<typeof Bun.spawn> | undefined

  private constructor(readonly port: number) {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(freePort())
    await server.restart()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Starts it again on the same port (empty: nothing was saved). */
  async restart(): Promise<void> {
    const child = Bun.spawn(
      [
        'redis-server',
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdout: 'pipe', stderr: 'pipe' },
    )
    this.child = child
    let output = ''
    const seen = new Signal()
    void (async () => {
      const decoder = new TextDecoder()
      for await (const chunk of child.stdout) {
        output += decoder.decode(chunk)
        seen.changed()
      }
      seen.changed()
    })()
    await seen.until(
      () => output.includes('Ready to accept connections') || (child.exitCode !== null && 'exited'),
      `redis-server on port ${this.port} to start`,
    )
    if (child.exitCode !== null) throw new Error(`redis-server exited:\n${output}`)
  }

  /** SIGKILL: connections drop at once, as when the host dies. */
  async kill(): Promise<void> {
    const child = this.child
    this.child = undefined
    child?.kill('SIGKILL')
    await child?.exited
  }

  /** SIGSTOP: connections stay open and nothing answers, as behind a network partition. */
  pause(): void {
    this.child?.kill('SIGSTOP')
  }

  resume(): void {
    this.child?.kill('SIGCONT')
  }

  async stop(): Promise<void> {
    this.resume()
    await this.kill()
  }
}

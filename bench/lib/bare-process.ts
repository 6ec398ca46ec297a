import { join } from 'node:path'
import { benchDir } from './machine.ts'
import { freePort, waitForHealth } from './relay-process.ts'

/** bench/bare-elysia.ts as a process of its own: the intake baseline, or with a store a ceiling. */
export async function startBareElysia(
  store: 'none' | 'memory' | 'sqlite' = 'none',
): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort()
  const child = Bun.spawn([process.execPath, join(import.meta.dir, '..', 'bare-elysia.ts')], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), BARE_STORE: store, BENCH_DIR: benchDir() },
    stdout: 'ignore',
    stderr: 'inherit',
  })
  const url = `http://127.0.0.1:${port}`
  await waitForHealth(url, child.exited)
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM')
      await Promise.race([child.exited, Bun.sleep(2000)])
      child.kill('SIGKILL')
      await child.exited
    },
  }
}

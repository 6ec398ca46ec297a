import { join } from 'node:path'
import { Signal } from './signal.ts'

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts')

export interface RelayProcess {
  url: string
  process: ReturnType<typeof Bun.spawn>
  output(): string
  waitForOutput(text: string): Promise<void>
}

/** Starts `bun src/main.ts` (or a compiled executable) as its own process, the way an operator runs it, and waits for it to listen. */
export async function spawnRelay(
  env: Record<string, string>,
  cwd: string,
  executable?: string,
): Promise<RelayProcess> {
  const child = Bun.spawn(executable ? [executable] : [process.execPath, MAIN], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let output = ''
  const signal = new Signal()
  const decoder = new TextDecoder()
  let resolveUrl: (url: string) => void = () => {}
  const started = new Promise<string>((resolve) => {
    resolveUrl = resolve
  })
  void (async () => {
    for await (const chunk of child.stdout) {
      output += decoder.decode(chunk)
      signal.changed()
      const match = /"url":"(http:\/\/[^"]+?)\/?"/.exec(output)
      if (match?.[1]) resolveUrl(match[1])
    }
  })()
  void (async () => {
    for await (const chunk of child.stderr) output += decoder.decode(chunk)
  })()
  const url = await Promise.race([
    started,
    child.exited.then((code) => {
      throw new Error(`relay exited with ${code} before listening:\n${output}`)
    }),
  ])
  return {
    url,
    process: child,
    output: () => output,
    waitForOutput: async (text) => {
      await signal.until(() => output.includes(text), `"${text}" in the relay's output`)
    },
  }
}

/** Runs a command to its end and collects what it printed. */
export async function runCommand(
  cmd: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; out: string; err: string }> {
  const child = Bun.spawn(cmd, { ...options, stdout: 'pipe', stderr: 'pipe' })
  const [code, out, err] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ])
  return { code, out, err }
}

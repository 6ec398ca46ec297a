import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CallbackSink } from './callback-sink.ts'
import { FakeLlm } from './fake-llm.ts'

/** What a relay process talks to: a temp folder, a fake LLM and a callback sink, closed together. */
export function openOutsideWorld(name: string): {
  dir: string
  llm: FakeLlm
  sink: CallbackSink
  close(): void
} {
  const dir = mkdtempSync(join(tmpdir(), `llm-relay-${name}-`))
  const llm = new FakeLlm()
  const sink = new CallbackSink()
  return {
    dir,
    llm,
    sink,
    close() {
      llm.stop()
      sink.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

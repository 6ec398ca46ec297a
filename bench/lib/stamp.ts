import { CallbackSink } from '../../test/support/callback-sink.ts'
import { FakeLlm } from '../../test/support/fake-llm.ts'

/**
 * Records when each item is pushed onto an array that a test fixture fills as requests
 * arrive (FakeLlm.calls, CallbackSink.received): the fixtures stay as the tests use them.
 */
export function stampArrivals<T>(array: T[], onArrival: (item: T, at: number) => void): void {
  const push = array.push.bind(array)
  array.push = (...items: T[]): number => {
    const at = performance.now()
    for (const item of items) onArrival(item, at)
    return push(...items)
  }
}

/**
 * A fake LLM answering after `latencyMs` and a callback sink, each arrival stamped by the
 * message it carries: when the LLM received a job's call, and when its callback came back.
 */
export function stampedOutsideWorld(latencyMs: number): {
  llm: FakeLlm
  sink: CallbackSink
  llmArrival: Map<string, number>
  callbackArrival: Map<string, number>
} {
  const llm = new FakeLlm()
  llm.latencyMs = latencyMs
  const sink = new CallbackSink()
  const llmArrival = new Map<string, number>()
  const callbackArrival = new Map<string, number>()
  stampArrivals(llm.calls, (call, at) => {
    const last = call.body.messages.at(-1)
    if (last) llmArrival.set(last.content, at)
  })
  stampArrivals(sink.received, (received, at) => callbackArrival.set(received.body.data.message, at))
  return { llm, sink, llmArrival, callbackArrival }
}

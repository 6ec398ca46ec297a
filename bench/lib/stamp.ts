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

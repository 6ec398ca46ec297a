/**
 * Run as its own process (`bun test/support/loaded-modules.ts on|off`): starts a relay with
 * tracing on or off, sends one job through, and prints which tracing modules the process loaded
 * (Bun lists every module it loaded, ES modules too, in require.cache).
 */
import { OtlpReceiver } from './otlp-receiver.ts'
import { startTestRelay } from './relay.ts'

const on = process.argv[2] === 'on'
const receiver = on ? new OtlpReceiver() : undefined
const relay = await startTestRelay(receiver ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } : {})
const { id } = await relay.send('are you tracing?')
await relay.sink.waitForJob(id)
const tracing = Object.keys(require.cache)
  .filter((path) => path.includes('@opentelemetry/') || path.includes('/src/telemetry/otlp-'))
  .map((path) => path.replace(/^.*\/src\/telemetry\//, 'src/telemetry/'))
await relay.close()
receiver?.stop()
process.stdout.write(`${JSON.stringify({ delivered: true, tracing })}\n`)

import { gunzipSync } from 'node:zlib'
import { Signal } from './signal.ts'

/** One span as an OTLP/HTTP exporter sent it, flattened: ids in hex, attributes as plain values. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  /** Absent for a root span. */
  parentSpanId?: string
  name: string
  /** OTLP's SpanKind: 2 server, 3 client. */
  kind: number
  attributes: Record<string, string | number | boolean>
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: number
  /** The resource's attributes (`service.name`, `service.instance.id`…). */
  resource: Record<string, string | number | boolean>
}

type OtlpValue = {
  stringValue?: string
  intValue?: number | string
  doubleValue?: number
  boolValue?: boolean
}
type OtlpAttribute = { key: string; value: OtlpValue }
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] }
    scopeSpans?: {
      spans?: {
        traceId: string
        spanId: string
        parentSpanId?: string
        name: string
        kind: number
        attributes?: OtlpAttribute[]
        status?: { code?: number }
      }[]
    }[]
  }[]
}

function plainValue(v: OtlpValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return v.doubleValue
  if (v.boolValue !== undefined) return v.boolValue
  return ''
}

const attributesOf = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, plainValue(a.value)]))

/**
 * An OpenTelemetry collector's OTLP/HTTP trace endpoint on 127.0.0.1: POST /v1/traces in JSON
 * (the encoding the relay's exporter uses), gzipped or not. Anything else is refused with 415,
 * so an exporter that changed its encoding fails loudly. Every request is kept raw too, so a
 * test can search the whole export for what must not be in it.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = []
  readonly raw: string[] = []
  readonly requestHeaders: Headers[] = []
  readonly signal = new Signal()
  private readonly server: ReturnType<typeof Bun.serve>

  constructor() {
    this.server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: async (request) => {
        if (request.method !== 'POST' || new URL(request.url).pathname !== '/v1/traces')
          return new Response('not found', { status: 404 })
        if (!request.headers.get('content-type')?.startsWith('application/json'))
          return new Response('only OTLP/JSON here', { status: 415 })
        const bytes = new Uint8Array(await request.arrayBuffer())
        const text = new TextDecoder().decode(
          request.headers.get('content-encoding') === 'gzip' ? gunzipSync(bytes) : bytes,
        )
        this.raw.push(text)
        this.requestHeaders.push(request.headers)
        for (const rs of (JSON.parse(text) as OtlpExport).resourceSpans ?? []) {
          const resource = attributesOf(rs.resource?.attributes)
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? [])
              this.spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
                name: s.name,
                kind: s.kind,
                attributes: attributesOf(s.attributes),
                status: s.status?.code ?? 0,
                resource,
              })
        }
        this.signal.changed()
        return Response.json({})
      },
    })
  }

  /** What OTEL_EXPORTER_OTLP_ENDPOINT is set to. */
  get url(): string {
    return `http://127.0.0.1:${this.server.port}`
  }

  /** The spans of one job, by their `llm_relay.job.id`. */
  spansOf(jobId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.attributes['llm_relay.job.id'] === jobId)
  }

  waitFor(check: (spans: ReceivedSpan[]) => boolean, what: string): Promise<ReceivedSpan[]> {
    return this.signal.until(() => check(this.spans) && this.spans, what)
  }

  stop(): void {
    this.server.stop(true)
  }
}

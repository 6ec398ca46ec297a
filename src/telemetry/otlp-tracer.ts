import {
  type Context,
  DiagLogLevel,
  defaultTextMapGetter,
  defaultTextMapSetter,
  diag,
  type Tracer as OtelTracer,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources'
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace'
import type { Logger } from '../log.ts'
import type { Job } from '../store/store.ts'
import {
  type Attributes,
  callbackEndAttributes,
  callbackStartAttributes,
  intakeEndAttributes,
  intakeOutcomeAttributes,
  intakeStartAttributes,
  llmEndAttributes,
  llmStartAttributes,
  SPAN_NAMES,
} from './span-attributes.ts'
import type { CallbackAttemptSpan, IntakeSpan, LlmAttemptSpan, TraceHeaders, Tracer } from './tracer.ts'

/**
 * The OpenTelemetry SDK behind the Tracer port, exporting OTLP/HTTP JSON in batches. Loaded only
 * when OTEL_EXPORTER_OTLP_ENDPOINT is set (main.ts imports it dynamically).
 */
export interface OtlpTracerOptions {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; spans go to its /v1/traces. */
  endpoint: string
  headers: Record<string, string>
  serviceName: string
  serviceVersion: string
  /** This instance among many (the worker id), as `service.instance.id`. */
  instanceId: string
  logger: Logger
  scrub: (text: string) => string
  /** How long spans wait to be sent in a batch (the SDK's 5 s default). */
  batchDelayMs?: number
}

const propagator = new W3CTraceContextPropagator()

const requestHeaders: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
}

/** A stored trace context is the two W3C headers' values, `traceparent` and `tracestate`, a line each. */
function contextFrom(stored: string | null): Context {
  if (stored === null) return ROOT_CONTEXT
  const [traceparent, tracestate] = stored.split('\n')
  return propagator.extract(ROOT_CONTEXT, { traceparent, tracestate }, defaultTextMapGetter)
}

function headersOf(span: Span): Record<string, string> {
  const carrier: Record<string, string> = {}
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter)
  return carrier
}

function finish(span: Span, attributes: Attributes): void {
  span.setAttributes(attributes)
  const error = attributes['error.type']
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) })
  span.end()
}

export class OtlpTracer implements Tracer {
  private readonly provider: TracerProvider
  private readonly tracer: OtelTracer

  constructor(o: OtlpTracerOptions) {
    const exporter = new OTLPTraceExporter({
      url: `${o.endpoint}/v1/traces`,
      headers: o.headers,
      timeoutMillis: 10_000,
    })
    this.provider = new TracerProvider({
      resource: defaultResource().merge(
        resourceFromAttributes({
          'service.name': o.serviceName,
          'service.version': o.serviceVersion,
          'service.instance.id': o.instanceId,
        }),
      ),
      // A client's `traceparent` that says "not sampled" is obeyed; every other trace is kept.
      sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter,
          scheduledDelayMillis: o.batchDelayMs ?? 5000,
          exportTimeoutMillis: 10_000,
        }),
      ],
    })
    this.tracer = this.provider.getTracer('llm-relay', o.serviceVersion)
    // The SDK reports a failed export through its diagnostic logger, silent unless one is set.
    diag.setLogger(
      {
        error: (message) => o.logger.warn(`traces: ${o.scrub(message)}`),
        warn: (message) => o.logger.warn(`traces: ${o.scrub(message)}`),
        info: () => {},
        debug: () => {},
        verbose: () => {},
      },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    )
  }

  startIntake(request: Request): IntakeSpan {
    const parent = propagator.extract(ROOT_CONTEXT, request.headers, requestHeaders)
    const span = this.tracer.startSpan(
      SPAN_NAMES.intake,
      { kind: SpanKind.SERVER, attributes: intakeStartAttributes() },
      parent,
    )
    const { traceparent, tracestate } = headersOf(span)
    return {
      context: tracestate === undefined ? (traceparent ?? '') : `${traceparent}\n${tracestate}`,
      decided: (outcome, job) => span.setAttributes(intakeOutcomeAttributes(outcome, job)),
      end: (status) => finish(span, intakeEndAttributes(status)),
    }
  }

  startLlmAttempt(job: Job): LlmAttemptSpan {
    return this.attempt(SPAN_NAMES.llm(job.model), job, llmStartAttributes(job), llmEndAttributes)
  }

  startCallbackAttempt(job: Job): CallbackAttemptSpan {
    return this.attempt(SPAN_NAMES.callback, job, callbackStartAttributes(job), callbackEndAttributes)
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown()
  }

  private attempt<R>(
    name: string,
    job: Job,
    attributes: Attributes,
    endAttributes: (result: R) => Attributes,
  ): { headers: TraceHeaders; end(result: R): void } {
    const span = this.tracer.startSpan(
      name,
      { kind: SpanKind.CLIENT, attributes },
      contextFrom(job.traceContext),
    )
    return { headers: headersOf(span), end: (result) => finish(span, endAttributes(result)) }
  }
}

/**
 * A small Prometheus registry: counters and histograms with labels, and gauges read when
 * scraped. Text exposition format 0.0.4.
 */
type Labels = Record<string, string>

const escapeLabelValue = (v: string): string =>
  v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')

/** Series key: labels in the order the caller gives them (each metric's callers use one order). */
function key(labels: Labels): string {
  let out = ''
  for (const name in labels)
    out += `${out === '' ? '' : ','}${name}="${escapeLabelValue(labels[name] as string)}"`
  return out
}

const braces = (inner: string): string => (inner === '' ? '' : `{${inner}}`)

interface Metric {
  render(): string[] | Promise<string[]>
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>()
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels)
    const series = this.values.get(k)
    if (series) series.value += by
    else this.values.set(k, { labels: { ...labels }, value: by })
  }

  /** The total of every series whose labels include `match` (all of them without one). */
  total(match: Labels = {}): number {
    let sum = 0
    for (const { labels, value } of this.values.values())
      if (Object.entries(match).every(([name, v]) => labels[name] === v)) sum += value
    return sum
  }

  /** Totals by the value of one label, for readers of this process's counts (the console). */
  totalsBy(label: string): Map<string, number> {
    const out = new Map<string, number>()
    for (const { labels, value } of this.values.values()) {
      const v = labels[label] ?? ''
      out.set(v, (out.get(v) ?? 0) + value)
    }
    return out
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    for (const [k, s] of this.values) lines.push(`${this.name}${braces(k)} ${s.value}`)
    return lines
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>()
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  /** On the hot path of every job and request: one bucket incremented, cumulated when scraped. */
  observe(labels: Labels, value: number): void {
    const k = key(labels)
    let s = this.series.get(k)
    if (!s) {
      s = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }
      this.series.set(k, s)
    }
    let i = 0
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i++
    if (i < this.buckets.length) s.counts[i] = (s.counts[i] ?? 0) + 1
    s.sum += value
    s.count += 1
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    for (const [k, s] of this.series) {
      const sep = k === '' ? '' : ','
      let cumulative = 0
      this.buckets.forEach((b, i) => {
        cumulative += s.counts[i] ?? 0
        lines.push(`${this.name}_bucket{${k}${sep}le="${b}"} ${cumulative}`)
      })
      lines.push(`${this.name}_bucket{${k}${sep}le="+Inf"} ${s.count}`)
      lines.push(`${this.name}_sum${braces(k)} ${s.sum}`)
      lines.push(`${this.name}_count${braces(k)} ${s.count}`)
    }
    return lines
  }
}

export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => Promise<[Labels, number][]> | [Labels, number][],
  ) {}

  async render(): Promise<string[]> {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`]
    for (const [labels, v] of await this.read()) lines.push(`${this.name}${braces(key(labels))} ${v}`)
    return lines
  }
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/** Every metric llm-relay exposes at /metrics. */
export class RelayMetrics {
  readonly jobsAccepted = new Counter('llm_relay_jobs_accepted_total', 'Jobs accepted by POST /webhook.')
  readonly memoryCollections = new Counter(
    'llm_relay_memory_collections_total',
    'Garbage collections made because resident memory was above MEMORY_SOFT_LIMIT.',
  )
  readonly jobsFinished = new Counter(
    'llm_relay_jobs_finished_total',
    'Jobs that reached a final status (delivered, dead or cancelled), by status and type (completed, failed; none for cancelled).',
  )
  readonly llmDuration = new Histogram(
    'llm_relay_llm_call_duration_seconds',
    'Duration of LLM calls, by model and outcome.',
    SECONDS,
  )
  readonly llmErrors = new Counter(
    'llm_relay_llm_errors_total',
    'LLM calls that failed, by error code and model.',
  )
  readonly llmCost = new Counter(
    'llm_relay_llm_cost_total',
    'What answered LLM calls cost in the provider’s credits (OpenRouter’s usage.cost), by model.',
  )
  readonly clientQuotaWaits = new Counter(
    'llm_relay_client_quota_waits_total',
    'LLM calls held back for a client over its own limit: reason="llm_rpm" or "daily_tokens" (the job waits, no attempt spent).',
  )
  readonly deliveryAttempts = new Counter(
    'llm_relay_delivery_attempts_total',
    'Callback attempts, by outcome (delivered, retry, dead).',
  )
  readonly deliveriesDeferred = new Counter(
    'llm_relay_deliveries_deferred_total',
    'Callbacks held back without an attempt: reason="open" (the origin’s breaker) or "busy" (CALLBACK_MAX_IN_FLIGHT_PER_ORIGIN).',
  )
  readonly deliveryDuration = new Histogram(
    'llm_relay_delivery_duration_seconds',
    'Duration of callback attempts, by outcome.',
    SECONDS,
  )
  readonly httpDuration = new Histogram(
    'llm_relay_http_request_duration_seconds',
    'Duration of HTTP requests, by method, route and status.',
    SECONDS,
  )
  private readonly gauges: Gauge[] = []

  addGauge(gauge: Gauge): void {
    this.gauges.push(gauge)
  }

  async render(): Promise<string> {
    const parts: Metric[] = [
      this.jobsAccepted,
      this.jobsFinished,
      this.llmDuration,
      this.llmErrors,
      this.llmCost,
      this.clientQuotaWaits,
      this.deliveryAttempts,
      this.deliveriesDeferred,
      this.deliveryDuration,
      this.httpDuration,
      this.memoryCollections,
      ...this.gauges,
    ]
    const lines: string[] = []
    for (const m of parts) lines.push(...(await m.render()))
    return `${lines.join('\n')}\n`
  }
}

/**
 * Prometheus metrics of the edge, rendered in the text exposition format at GET /metrics.
 * A deliberately small registry (counters, gauges read at scrape time, fixed-bucket histograms) so the hot path
 * pays a map lookup and an add per observation; not a general client library.
 */

type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labelText = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

/** Hot-path series key: label values in a fixed order per call site (names are fixed per metric). */
function fastKey(labels: Labels): string {
  let key = '';
  for (const k in labels) key += `${labels[k]}\u0000`;
  return key;
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = fastKey(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += by;
    else this.values.set(key, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(fastKey(labels))?.value ?? 0;
  }
  /** The series for fixed labels, for hot paths that cache it: `series.value += 1` skips the label lookup. */
  series(labels: Labels): { value: number } {
    const key = fastKey(labels);
    let cur = this.values.get(key);
    if (!cur) {
      cur = { labels, value: 0 };
      this.values.set(key, cur);
    }
    return cur;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const v of this.values.values()) lines.push(`${this.name}${labelText(v.labels)} ${v.value}`);
    return lines.join('\n');
  }
}

export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join('\n');
  }
}

/** One labelled series of a histogram; hot paths may cache it and call `observe` directly. */
export class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly buckets: readonly number[],
  ) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(value: number): void {
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= (this.buckets[i] as number)) {
        (this.counts[i] as number)++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

export class Histogram implements Metric {
  private readonly all = new Map<string, HistogramSeries>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  series(labels: Labels = {}): HistogramSeries {
    const key = fastKey(labels);
    let s = this.all.get(key);
    if (!s) {
      s = new HistogramSeries(labels, this.buckets);
      this.all.set(key, s);
    }
    return s;
  }
  observe(value: number, labels: Labels = {}): void {
    this.series(labels).observe(value);
  }
  count(labels: Labels = {}): number {
    return this.all.get(fastKey(labels))?.count ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.all.values()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += s.counts[i] as number;
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every metric the edge exports. */
export class EdgeMetrics {
  readonly requests = new Counter('edge_http_requests_total', 'Webhook requests by provider and HTTP status');
  readonly requestDuration = new Histogram(
    'edge_http_request_duration_seconds',
    'Webhook request latency by provider',
    SECONDS_BUCKETS,
  );
  readonly batchMessages = new Histogram(
    'edge_batch_messages',
    'Messages per produced batch',
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
  );
  readonly batchBytes = new Histogram(
    'edge_batch_bytes',
    'Bytes (values) per produced batch',
    [1024, 8192, 65536, 262144, 1048576, 4194304],
  );
  readonly produceDuration = new Histogram(
    'edge_produce_duration_seconds',
    'Time from batch send to Kafka acknowledgement (acks=all)',
    SECONDS_BUCKETS,
  );
  readonly batches = new Counter('edge_batches_total', 'Produced batches by result (ok, failed)');
  readonly eventLoopLag = new Histogram(
    'edge_event_loop_lag_seconds',
    'How late a 20 ms timer fired (GC pauses, a blocked loop, the process not scheduled)',
    SECONDS_BUCKETS,
  );
  readonly overloadRejections = new Counter(
    'edge_overload_rejections_total',
    'Requests refused with 503 because the in-flight bound was reached',
  );
  readonly dlqRecords = new Counter('edge_dlq_records_total', 'Records sent to webhooks.dlq by reason');
  readonly otherRecords = new Counter(
    'edge_other_records_total',
    'Verified events outside the event vocabulary acknowledged into webhooks.<provider>.other, by provider',
  );
  readonly dlqWriteFailures = new Counter(
    'edge_dlq_write_failures_total',
    'DLQ records that could not be written (dropped, logged)',
  );
  readonly refusalLogSuppressed = new Counter(
    'edge_refusal_log_suppressed_total',
    'Per-request refusal log lines (400/401/413/503) not written because of the per-second limit',
  );
  readonly rateLimited = new Counter(
    'edge_rate_limited_total',
    'Requests answered 429 because their source had earned too many 400/401 answers (body not read, no DLQ record)',
  );
  readonly bodyReadFailures = new Counter(
    'edge_body_read_failures_total',
    'Request bodies whose reading failed (client disconnect, malformed chunked body, idle timeout)',
  );
  readonly errorLogSuppressed = new Counter(
    'edge_error_log_suppressed_total',
    'Unexpected-error log lines not written because of the per-second limit (each error is still counted here)',
  );
  private readonly gauges: Gauge[] = [];

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  render(): string {
    const all: Metric[] = [
      this.requests,
      this.requestDuration,
      this.batchMessages,
      this.batchBytes,
      this.produceDuration,
      this.batches,
      this.eventLoopLag,
      this.overloadRejections,
      this.dlqRecords,
      this.otherRecords,
      this.dlqWriteFailures,
      this.refusalLogSuppressed,
      this.rateLimited,
      this.bodyReadFailures,
      this.errorLogSuppressed,
      ...this.gauges,
    ];
    return `${all.map((m) => m.render()).join('\n')}\n`;
  }
}

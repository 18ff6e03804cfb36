/**
 * Prometheus metrics of the edge, rendered in the text exposition format at GET /metrics, on the platform's one
 * metrics helper (@pep/contracts/metrics: the hot path caches its series and pays an add per observation).
 */
import { Registry } from '@pep/contracts/metrics';

export type { Histogram, HistogramSeries } from '@pep/contracts/metrics';

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every metric the edge exports. */
export class EdgeMetrics {
  private readonly registry = new Registry();
  readonly requests = this.registry.counter('edge_http_requests_total', 'Webhook requests by provider and HTTP status');
  readonly requestDuration = this.registry.histogram(
    'edge_http_request_duration_seconds',
    'Webhook request latency by provider',
    SECONDS_BUCKETS,
  );
  readonly batchMessages = this.registry.histogram(
    'edge_batch_messages',
    'Messages per produced batch',
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
  );
  readonly batchBytes = this.registry.histogram(
    'edge_batch_bytes',
    'Bytes (values) per produced batch',
    [1024, 8192, 65536, 262144, 1048576, 4194304],
  );
  readonly produceDuration = this.registry.histogram(
    'edge_produce_duration_seconds',
    'Time from batch send to Kafka acknowledgement (acks=all)',
    SECONDS_BUCKETS,
  );
  readonly batches = this.registry.counter('edge_batches_total', 'Produced batches by result (ok, failed)');
  readonly eventLoopLag = this.registry.histogram(
    'edge_event_loop_lag_seconds',
    'How late a 20 ms timer fired (GC pauses, a blocked loop, the process not scheduled)',
    SECONDS_BUCKETS,
  );
  readonly overloadRejections = this.registry.counter(
    'edge_overload_rejections_total',
    'Requests refused with 503 because the in-flight bound was reached',
  );
  readonly dlqRecords = this.registry.counter('edge_dlq_records_total', 'Records sent to webhooks.dlq by reason');
  readonly otherRecords = this.registry.counter(
    'edge_other_records_total',
    'Verified events outside the event vocabulary acknowledged into webhooks.<provider>.other, by provider',
  );
  readonly dlqWriteFailures = this.registry.counter(
    'edge_dlq_write_failures_total',
    'DLQ records that could not be written (dropped, logged)',
  );
  readonly refusalLogSuppressed = this.registry.counter(
    'edge_refusal_log_suppressed_total',
    'Per-request refusal log lines (400/401/413/503) not written because of the per-second limit',
  );
  readonly rateLimited = this.registry.counter(
    'edge_rate_limited_total',
    'Requests answered 429 because their source had earned too many 400/401 answers (body not read, no DLQ record)',
  );
  readonly bodyReadFailures = this.registry.counter(
    'edge_body_read_failures_total',
    'Request bodies whose reading failed (client disconnect, malformed chunked body, idle timeout)',
  );
  readonly errorLogSuppressed = this.registry.counter(
    'edge_error_log_suppressed_total',
    'Unexpected-error log lines not written because of the per-second limit (each error is still counted here)',
  );
  /** A gauge read at scrape time (queue lengths, bytes in flight). */
  gauge(name: string, help: string, read: () => number): void {
    this.registry.scrapeGauge(name, help, read);
  }

  render(): string {
    return this.registry.render();
  }
}

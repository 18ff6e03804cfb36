/**
 * The transformer's Prometheus metrics (served on TRANSFORMER_METRICS_PORT): inputs, outputs by kind, committed and
 * failed steps, the core call's and the commit's durations, end-to-end latency from the edge, lag per partition and
 * the transactions aborted because the group fenced this member.
 */
import { Registry } from '@pep/contracts/metrics';

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class TransformerMetrics {
  readonly registry = new Registry();
  readonly inputs = this.registry.counter('transformer_input_messages_total', 'Raw messages processed, by topic');
  readonly outputs = this.registry.counter(
    'transformer_output_records_total',
    'Records produced, by kind (normalized, dlq)',
  );
  readonly chunks = this.registry.counter(
    'transformer_chunks_total',
    'Chunks (one normalizer call each), by result (committed, failed)',
  );
  readonly transactions = this.registry.counter(
    'transformer_transactions_total',
    'Kafka transactions (group commits of chunks), by result',
  );
  readonly normalizeSeconds = this.registry.histogram(
    'transformer_normalize_seconds',
    'Time of one normalizer batch call',
    [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
  );
  readonly commitSeconds = this.registry.histogram(
    'transformer_commit_seconds',
    'Produce + offset commit (one transaction) of a group of chunks',
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
  );
  readonly endToEndSeconds = this.registry.histogram(
    'transformer_end_to_end_seconds',
    'Edge received-at to the outputs being committed',
    LATENCY_BUCKETS_S,
  );
  readonly lag = this.registry.gauge('pipeline_consumer_lag', 'Log-end offset minus committed offset, per partition');
  readonly membershipAborts = this.registry.counter(
    'transformer_membership_aborts_total',
    'Transactions aborted because the group had not confirmed this member for half the session timeout',
  );
}

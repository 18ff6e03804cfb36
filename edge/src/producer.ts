/**
 * Group-commit producer: each request enqueues its record and waits on the batch that carries it. A batch leaves
 * when it is full (messages or bytes); when nothing is in flight, at the end of the event-loop turn in which its first
 * record arrived (no acknowledgement is coming to wait for: the linger would only park every caller, 0.78 → 0.96 of
 * the core used in the memory-sink bench); while a batch is in flight, after the linger time or right after that batch
 * is acknowledged, whichever comes first (records that queued during a send have already waited). At most `maxConcurrentBatches` batches are in flight (the Kafka sink gives each its own idempotent
 * producer session); more records queue and form the next batch, so batching grows with load. In-flight messages and bytes are bounded; beyond the bound enqueue fails fast
 * (the route answers 503 + Retry-After). A failed or timed-out batch rejects all its waiters (503) and resets the sink.
 * Not responsible for retries: providers retry on 503, which is always safe.
 */

import type { Logger } from '@pep/contracts/log';
import type { EdgeMetrics } from './metrics.ts';
import type { BatchSink, OutRecord } from './sink.ts';

export class OverloadedError extends Error {
  override readonly name = 'OverloadedError';
  readonly code = 'overloaded';
}
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
  readonly code = 'kafka_unavailable';
}
export class ShuttingDownError extends Error {
  override readonly name = 'ShuttingDownError';
  readonly code = 'shutting_down';
}

export interface ProducerLimits {
  readonly lingerMs: number;
  readonly maxBatchMessages: number;
  readonly maxBatchBytes: number;
  readonly maxInFlightMessages: number;
  readonly maxInFlightBytes: number;
  readonly produceTimeoutMs: number;
  readonly maxConcurrentBatches: number;
}

export interface EnqueueOptions {
  /** Low priority (DLQ records of refused requests) may use only half of the in-flight bounds, so a flood of
   * forged requests cannot crowd out real events. */
  readonly lowPriority?: boolean;
}

interface Waiter {
  readonly record: OutRecord;
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export const recordBytes = (r: OutRecord): number => {
  let n = r.value.byteLength + (r.key?.length ?? 0);
  for (const k in r.headers) n += k.length + (r.headers[k] as string).length;
  return n;
};

export class GroupCommitProducer {
  private pending: Waiter[] = [];
  private pendingBytes = 0;
  private sending = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private immediate: ReturnType<typeof setImmediate> | null = null;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  inFlightMessages = 0;
  inFlightBytes = 0;
  /** edge_batches_total{result="ok"}, cached (bumped once per batch). */
  private readonly batchesOk: { value: number };

  constructor(
    private readonly sink: BatchSink,
    private readonly limits: ProducerLimits,
    private readonly metrics: EdgeMetrics,
    private readonly log: Logger,
  ) {
    metrics.gauge(
      'edge_inflight_messages',
      'Records accepted by the producer and not yet acknowledged or failed',
      () => this.inFlightMessages,
    );
    metrics.gauge('edge_inflight_bytes', 'Bytes of in-flight records', () => this.inFlightBytes);
    metrics.gauge('edge_pending_messages', 'Records waiting for the next batch', () => this.pending.length);
    this.batchesOk = metrics.batches.series({ result: 'ok' });
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Resolves once the record is durably written; rejects with Overloaded/Unavailable/ShuttingDown otherwise. */
  enqueue(record: OutRecord, opts: EnqueueOptions = {}): Promise<void> {
    if (this.closing) return Promise.reject(new ShuttingDownError('the edge is shutting down'));
    const bytes = recordBytes(record);
    const share = opts.lowPriority ? 0.5 : 1;
    if (
      this.inFlightMessages + 1 > this.limits.maxInFlightMessages * share ||
      this.inFlightBytes + bytes > this.limits.maxInFlightBytes * share
    ) {
      this.metrics.overloadRejections.inc();
      return Promise.reject(new OverloadedError('in-flight bound reached'));
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record, bytes, resolve, reject });
      this.pendingBytes += bytes;
      this.inFlightMessages++;
      this.inFlightBytes += bytes;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.sending >= this.limits.maxConcurrentBatches) return; // a completing send flushes the queue
    const full = this.pending.length >= this.limits.maxBatchMessages || this.pendingBytes >= this.limits.maxBatchBytes;
    if (full || this.limits.lingerMs === 0 || this.closing) {
      this.flush();
      return;
    }
    if (this.timer !== null || this.immediate !== null) return;
    if (this.sending === 0) {
      // Nothing in flight: no acknowledgement is coming that records could ride along with, so waiting out the
      // linger only parks every caller. The batch takes what arrived in this event-loop turn and leaves.
      this.immediate = setImmediate(() => {
        this.immediate = null;
        this.flush();
      });
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.limits.lingerMs);
  }

  private takeBatch(): Waiter[] {
    let n = 0;
    let bytes = 0;
    // Always at least one record, so a record larger than maxBatchBytes still goes (alone).
    while (n < this.pending.length && n < this.limits.maxBatchMessages) {
      const b = (this.pending[n] as Waiter).bytes;
      if (n > 0 && bytes + b > this.limits.maxBatchBytes) break;
      bytes += b;
      n++;
    }
    const batch = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    this.pendingBytes -= bytes;
    return batch;
  }

  private flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    while (this.sending < this.limits.maxConcurrentBatches && this.pending.length > 0) this.sendBatch();
  }

  private sendBatch(): void {
    const batch = this.takeBatch();
    const records: OutRecord[] = new Array(batch.length);
    let batchBytes = 0;
    for (let i = 0; i < batch.length; i++) {
      const w = batch[i] as Waiter;
      records[i] = w.record;
      batchBytes += w.bytes;
    }
    this.sending++;
    const started = performance.now();
    // One timer and a settled flag per batch (no extra promise and Promise.race): whichever comes first answers.
    let settled = false;
    const complete = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      // Bookkeeping first, so that the bound is released by the time a waiter's response is written.
      this.metrics.produceDuration.observe((performance.now() - started) / 1000);
      this.metrics.batchMessages.observe(batch.length);
      this.metrics.batchBytes.observe(batchBytes);
      this.inFlightMessages -= batch.length;
      this.inFlightBytes -= batchBytes;
      this.sending--;
      if (err === undefined) {
        this.batchesOk.value++;
        for (const w of batch) w.resolve();
      } else {
        this.metrics.batches.inc({ result: 'failed' });
        // A failed batch may still have been written (ambiguous); the sink starts a fresh producer session so a
        // later batch can never be mistaken by the broker for a duplicate of it.
        this.sink.reset();
        this.log.warn('batch failed; answering its requests 503', {
          messages: batch.length,
          error: err instanceof Error ? err.message : String(err),
        });
        const failure = new UnavailableError('Kafka did not acknowledge the batch', { cause: err });
        for (const w of batch) w.reject(failure);
      }
      if (this.pending.length > 0) this.flush();
      else if (this.inFlightMessages === 0) for (const fn of this.idleWaiters.splice(0)) fn();
    };
    const timeout = setTimeout(
      () => complete(new Error(`produce not acknowledged within ${this.limits.produceTimeoutMs} ms`)),
      this.limits.produceTimeoutMs,
    );
    let sent: Promise<void>;
    try {
      sent = this.sink.send(records);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => complete(undefined),
      (err: unknown) => complete(err ?? new Error('send failed')),
    );
  }

  /**
   * Graceful shutdown: refuse new records, send everything queued, and wait for the acknowledgements (bounded by
   * timeoutMs). Records still unacknowledged at the deadline are answered 503 (never acknowledged).
   */
  async drain(timeoutMs: number): Promise<{ drained: boolean }> {
    this.closing = true;
    this.flush();
    if (this.inFlightMessages === 0) return { drained: true };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const drained = await Promise.race([idle, expired]);
    clearTimeout(timer);
    if (!drained) {
      const left = this.pending.splice(0);
      for (const w of left) {
        this.inFlightMessages--;
        this.inFlightBytes -= w.bytes;
        this.pendingBytes -= w.bytes;
      }
      for (const w of left) w.reject(new ShuttingDownError('shutdown deadline reached before the batch was sent'));
    }
    return { drained };
  }
}

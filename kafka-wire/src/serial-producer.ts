/**
 * A kafkajs idempotent producer used so that it cannot acknowledge a message it never wrote.
 *
 * Why: kafkajs 2.2.4 numbers records per partition before a Produce request and, when the request fails, gives the
 * numbers back (`updateSequence(-n)` in producer/sendMessages.js). If the failed request was in fact written (the
 * broker died or the connection dropped after the append, before the answer), the next send to that partition
 * reuses the same sequence numbers. When it carries as many records as the lost answer's batch, the broker takes it
 * for a retry of that batch, answers with the old batch's offset and drops the new records, and kafkajs resolves
 * the send. Seen in stack/test/kafka-crash.test.ts: four concurrent senders, broker SIGKILLed, six acknowledged
 * messages missing from the log.
 *
 * The rules here close that hole:
 * - One send at a time: no other send can take sequence numbers while one is in doubt (kafkajs queues concurrent
 *   sends behind a per-broker lock, where they would pick up the returned numbers).
 * - After any failed send the producer is dropped and the next send connects a new one, which gets a new producer
 *   id from InitProducerId: nothing sent later can collide with what the failed request may have written.
 * - A send that fails is the caller's to retry (duplicates are possible, as with any at-least-once producer; losses
 *   are not). Within one send kafkajs's own retries resend the same records with the same numbers, which is the
 *   case the broker's de-duplication is made for.
 * - Waiting sends are bounded (`maxQueued`); beyond the bound a send fails at once.
 */
import type { Producer, ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs';

export interface SerialProducerOptions {
  /** Sends allowed to wait behind the one in flight; more fail at once with `SerialProducerQueueFullError`. */
  readonly maxQueued?: number;
  /** Told each time a failed send retires a producer (for a log line or a metric). */
  readonly onRetire?: (err: unknown) => void;
}

export class SerialProducerQueueFullError extends Error {
  constructor(maxQueued: number) {
    super(`producer queue full: ${maxQueued} sends already waiting`);
    this.name = 'SerialProducerQueueFullError';
  }
}

/** The part of a kafkajs producer the platform's low-volume paths use. */
export interface RecordSender {
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>;
}

export class SerialIdempotentProducer implements RecordSender {
  private producer: Producer | null = null;
  private tail: Promise<void> = Promise.resolve();
  /** Sends accepted and not settled: the one in flight and those waiting. */
  private queued = 0;
  private retiredCount = 0;
  private closed = false;
  private readonly maxQueued: number;

  /** `create` must return a fresh, unconnected kafkajs producer with `idempotent: true`. */
  constructor(
    private readonly create: () => Producer,
    private readonly opts: SerialProducerOptions = {},
  ) {
    this.maxQueued = opts.maxQueued ?? 1000;
  }

  /** Producers retired after a failed send so far. */
  get retired(): number {
    return this.retiredCount;
  }

  /** Connects the first producer now, so a bad configuration shows at start rather than on the first send. */
  async connect(): Promise<void> {
    await this.serially(() => this.current());
  }

  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    return this.serially(async () => this.attempt((p) => p.send(record)));
  }

  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    return this.serially(async () => this.attempt((p) => p.sendBatch(batch)));
  }

  /** Lets queued sends finish, then disconnects. Later sends fail. */
  async disconnect(): Promise<void> {
    this.closed = true;
    await this.tail;
    const p = this.producer;
    this.producer = null;
    await p?.disconnect();
  }

  private async attempt(fn: (p: Producer) => Promise<RecordMetadata[]>): Promise<RecordMetadata[]> {
    const p = await this.current();
    try {
      return await fn(p);
    } catch (err) {
      // The failed request may have been written: its producer id must not send again.
      this.producer = null;
      this.retiredCount++;
      this.opts.onRetire?.(err);
      await p.disconnect().catch(() => undefined);
      throw err;
    }
  }

  private async current(): Promise<Producer> {
    if (this.producer) return this.producer;
    const p = this.create();
    try {
      await p.connect(); // InitProducerId: a new producer id, sequences from 0
    } catch (err) {
      await p.disconnect().catch(() => undefined);
      throw err;
    }
    this.producer = p;
    return p;
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('producer disconnected'));
    if (this.queued > this.maxQueued) return Promise.reject(new SerialProducerQueueFullError(this.maxQueued));
    this.queued++;
    const run = this.tail.then(work);
    const settled = () => {
      this.queued--;
    };
    // never rejects: one failed send does not fail the ones queued behind it
    this.tail = run.then(settled, settled);
    return run;
  }
}

/**
 * Kafka sink over kafkajs: a small pool of idempotent producers with acks=all (-1), one request in flight each, no
 * auto topic creation. kafkajs serializes an idempotent producer's requests per broker, so concurrent batches need
 * separate producer sessions: each concurrent batch gets its own producer. `send` groups a batch by topic into one
 * `sendBatch` call and resolves only after the broker acknowledged every partition. After any failure the producer is
 * replaced (new producer id), because kafkajs rolls its sequence numbers back on a failed request: if that request had
 * in fact been written, a later batch reusing the same sequence numbers would be taken by the broker for a duplicate
 * and silently dropped while we acknowledge it.
 */

import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  type Admin,
  CompressionTypes,
  Kafka,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
  type TopicMessages,
} from 'kafkajs';
import type { Logger } from './log.ts';
import type { BatchSink, OutRecord } from './sink.ts';

export interface KafkaSinkOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Broker-side timeout for the acks=all produce request. */
  readonly requestTimeoutMs: number;
  /** Producer sessions, one per concurrently sent batch. */
  readonly producers: number;
  readonly log: Logger;
}

interface Slot {
  producer: Producer | null;
  connecting: Promise<Producer> | null;
  busy: boolean;
}

export class KafkaSink implements BatchSink {
  readonly kind = 'kafka';
  private readonly kafka: Kafka;
  private readonly slots: Slot[];
  private admin: Admin | null = null;
  private closed = false;

  constructor(private readonly opts: KafkaSinkOptions) {
    this.slots = Array.from({ length: Math.max(1, opts.producers) }, () => ({
      producer: null,
      connecting: null,
      busy: false,
    }));
    const log = opts.log.child({ component: 'kafkajs' });
    this.kafka = new Kafka({
      clientId: opts.clientId,
      brokers: [...opts.brokers],
      connectionTimeout: 1000,
      requestTimeout: Math.max(opts.requestTimeoutMs, 1000),
      // Bounded retries: a batch that cannot be written fails within seconds and its requests get 503.
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
      // kafkajs's default socket leaves Nagle's algorithm on; a request/response protocol wants it off (as the Java
      // client does), or a small produce request can wait for the peer's delayed ACK.
      socketFactory: ({ host, port, ssl, onConnect }) => {
        const socket = ssl
          ? tlsConnect({ host, port, servername: host, ...(typeof ssl === 'object' ? ssl : {}) }, onConnect)
          : netConnect({ host, port }, onConnect);
        socket.setKeepAlive(true, 60_000);
        socket.setNoDelay(true);
        return socket;
      },
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ namespace, level, log: entry }: LogEntry) => {
          const { message, timestamp: _ts, logger: _l, ...rest } = entry as LogEntry['log'] & { logger?: string };
          // kafkajs warns that bounded retries weaken exactly-once; we want at-least-once with fast 503s.
          if (message?.startsWith('Limiting retries for the idempotent producer')) return;
          const fields = { namespace, ...rest };
          if (level <= logLevel.ERROR) log.error(message ?? 'kafkajs', fields);
          else log.warn(message ?? 'kafkajs', fields);
        },
    });
  }

  private newProducer(): Producer {
    return this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  private connectSlot(slot: Slot): Promise<Producer> {
    if (this.closed) return Promise.reject(new Error('sink closed'));
    if (slot.producer) return Promise.resolve(slot.producer);
    if (!slot.connecting) {
      const p = this.newProducer();
      slot.connecting = p
        .connect()
        .then(() => {
          slot.producer = p;
          return p;
        })
        .finally(() => {
          slot.connecting = null;
        });
    }
    return slot.connecting;
  }

  /** Connects every producer session (startup; failures are reported, sends retry the connection). */
  async connect(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.connectSlot(s)));
  }

  private dropSlot(slot: Slot): void {
    const old = slot.producer;
    slot.producer = null;
    if (old) old.disconnect().catch(() => undefined);
  }

  async send(batch: readonly OutRecord[]): Promise<void> {
    // The group-commit producer never has more batches in flight than there are sessions.
    const slot = this.slots.find((s) => !s.busy);
    if (!slot) throw new Error('no idle Kafka producer session (more concurrent batches than EDGE_KAFKA_PRODUCERS)');
    slot.busy = true;
    try {
      const producer = await this.connectSlot(slot);
      const byTopic = new Map<string, TopicMessages>();
      for (const r of batch) {
        let t = byTopic.get(r.topic);
        if (!t) {
          t = { topic: r.topic, messages: [] };
          byTopic.set(r.topic, t);
        }
        t.messages.push({
          key: r.key,
          value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
          headers: r.headers as Record<string, string>,
        });
      }
      await producer.sendBatch({
        topicMessages: [...byTopic.values()],
        acks: -1,
        timeout: this.opts.requestTimeoutMs,
        compression: CompressionTypes.None,
      });
    } catch (err) {
      this.dropSlot(slot);
      throw err;
    } finally {
      slot.busy = false;
    }
  }

  /** After a failed or timed-out batch: every session starts over with a new producer id. */
  reset(): void {
    for (const slot of this.slots) this.dropSlot(slot);
  }

  async probe(timeoutMs: number): Promise<boolean> {
    if (this.closed) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const check = (async () => {
      if (!this.admin) {
        this.admin = this.kafka.admin({ retry: { retries: 0 } });
        await this.admin.connect();
      }
      await this.admin.describeCluster();
      return true;
    })().catch(() => {
      const a = this.admin;
      this.admin = null;
      a?.disconnect().catch(() => undefined);
      return false;
    });
    const ok = await Promise.race([check, expired]);
    clearTimeout(timer);
    return ok;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.slots.map((s) => s.producer?.disconnect()), this.admin?.disconnect()]);
    for (const s of this.slots) s.producer = null;
    this.admin = null;
  }
}

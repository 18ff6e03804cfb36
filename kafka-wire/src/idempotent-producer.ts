/**
 * The idempotent producer of the hot path (the edge's Kafka sink): idempotent
 * producer sessions, acks=all, no auto topic creation, no compression, partitions chosen like the Java client
 * (murmur2 of the key). Why not a general client: kafkajs cost ~35-60 µs of CPU per 1 KiB record on the HTTP core
 * and @platformatic/kafka ~40 µs (measured, see README); this path encodes a whole batch into one buffer in a few µs
 * per record.
 *
 * Guarantees (each relied on by the edge's GroupCommitProducer and tested in edge/test/):
 * - `send` resolves only when every partition of the batch answered error code 0 to a Produce with acks=-1;
 *   anything else (a Kafka error code, a missing partition in the answer, a socket error, a timeout) rejects.
 * - No retries inside a session: a failed batch is answered 503 and the provider retries (duplicates are possible,
 *   losses are not).
 * - Sequence numbers: each session (a producer id from InitProducerId) numbers its records per partition and sends
 *   one batch at a time. After any failure the session is dropped and the next batch starts a new producer id, so a
 *   request that failed on our side but was in fact written can never make the broker take a later batch with the same
 *   sequence numbers for a duplicate (and drop it while we acknowledge it). `reset()` does the same for every
 *   session and abandons the batches still running (they reject).
 * - Topics must exist: metadata is requested with allow_auto_topic_creation=false; an unknown topic fails the batch.
 */

import type { KafkaCompression, KafkaSasl, KafkaTls } from '@pep/contracts/kafka-security';
import { BunBrokerConnection, bunSocketsAvailable } from './bun-connection.ts';
import { BrokerConnection } from './connection.ts';
import type { ConsumerLogger } from './consumer.ts';
import { isFatalConnectionError } from './handshake.ts';
import {
  type BrokerAddress,
  type Crc32c,
  compressProduceRequest,
  crc32c,
  decodeInitProducerIdResponse,
  decodeMetadataResponse,
  decodeProduceResponse,
  encodeInitProducerIdRequest,
  encodeMetadataRequest,
  encodeProduceRequest,
  KafkaProtocolError,
  type PartitionBatch,
  type ProduceRecord,
  type ProducerIdentity,
  partitionForStringKey,
  type TopicBatches,
} from './protocol.ts';

/** One record to produce: the topic, a string key (partitioned like the Java client) or null, value and headers. */
export interface OutRecord {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** What the sink needs from a broker connection (node:net's BrokerConnection and Bun's native one both fit). */
type Connection = Pick<BrokerConnection, 'usable' | 'connect' | 'correlationId' | 'request' | 'close' | 'retire'>;

export interface IdempotentProducerOptions {
  readonly brokers: readonly string[];
  /** TLS and SASL for every broker connection (the edge's `config.kafka`); absent: plaintext. */
  readonly security?: { readonly tls: KafkaTls | null; readonly sasl: KafkaSasl | null };
  readonly clientId: string;
  /** Broker-side timeout for the acks=all produce request; the client gives up a little later. */
  readonly requestTimeoutMs: number;
  /** Producer sessions, one per concurrently sent batch. */
  readonly producers: number;
  readonly log: Pick<ConsumerLogger, 'debug'>;
  readonly connectTimeoutMs?: number;
  /** Topic metadata is refreshed at least this often (and at once after a stale-metadata error). */
  readonly metadataMaxAgeMs?: number;
  /** Bun's native sockets instead of node:net (default: on Bun; cheaper per written byte there). */
  readonly nativeSockets?: boolean;
  /** Compress each batch (KAFKA_COMPRESSION: lz4 or zstd; default none). */
  readonly compression?: KafkaCompression;
  /** CRC-32C of each RecordBatch (default: this package's JS one; the edge passes core-native's when it loads). */
  readonly crc32c?: Crc32c;
}

interface Slot {
  busy: boolean;
  /** Bumped by every drop: a batch that started under an older generation is abandoned. */
  generation: number;
  identity: ProducerIdentity | null;
  /** Next sequence number by `${topic}\0${partition}` for this session. */
  readonly sequences: Map<string, number>;
  readonly connections: Map<number, Connection>;
}

interface CachedTopic {
  readonly leaders: readonly number[];
  readonly fetchedAt: number;
}

const ACKS_ALL = -1;

/** Kafka's sequence arithmetic: sequences wrap from 2^31-1 to 0. */
const nextSequence = (seq: number, n: number) => (seq > 0x7fffffff - n ? n - (0x7fffffff - seq) - 1 : seq + n);

/** One partition's share of a batch: its records and the base sequence they keep across retries. */
interface PartitionWork {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  baseSequence: number;
  readonly records: ProduceRecord[];
}

/**
 * Produce errors after which the same piece is sent again (leaders moved, a broker is down or catching up): the
 * Java client's retriable set for idempotent producers.
 */
const RETRIABLE_PRODUCE_CODES = new Set([3, 5, 6, 7, 13, 19, 20, 56, 74, 75]);
/** Bounded: within the produce timeout, at most this many attempts per batch. */
const SINK_RETRY = { maxAttempts: 8, initialBackoffMs: 25, maxBackoffMs: 1000 } as const;

class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
}

export class IdempotentProducer {
  readonly kind = 'kafka';
  private readonly clientId: Buffer;
  private readonly bootstrap: BrokerAddress[];
  private readonly slots: Slot[];
  private readonly brokers = new Map<number, BrokerAddress>();
  private readonly topics = new Map<string, CachedTopic>();
  private control: Connection | null = null;
  private bootstrapIndex = 0;
  private roundRobin = 0;
  private closed = false;
  private readonly connectTimeoutMs: number;
  private readonly metadataMaxAgeMs: number;
  private readonly nativeSockets: boolean;
  private readonly checksum: Crc32c;
  /**
   * Where produce requests are encoded. Bun's connection copies what the kernel does not take at once, so one buffer is
   * reused for every request (encode and write are one synchronous step); node:net keeps the buffer until it is
   * flushed, so there each request gets its own.
   */
  private readonly requestBuffer: (bytes: number) => Buffer;
  private scratch = Buffer.allocUnsafe(0);

  constructor(private readonly opts: IdempotentProducerOptions) {
    this.clientId = Buffer.from(opts.clientId, 'utf8');
    this.bootstrap = opts.brokers.map((b, i) => {
      const at = b.lastIndexOf(':');
      const port = Number(b.slice(at + 1));
      if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad Kafka broker "${b}"`);
      return { nodeId: -1 - i, host: b.slice(0, at), port };
    });
    if (this.bootstrap.length === 0) throw new Error('no Kafka brokers configured');
    this.slots = Array.from({ length: Math.max(1, opts.producers) }, () => ({
      busy: false,
      generation: 0,
      identity: null,
      sequences: new Map(),
      connections: new Map(),
    }));
    // A TLS and SCRAM handshake takes several round trips and a PBKDF2: more room than a plain TCP connect.
    this.connectTimeoutMs = opts.connectTimeoutMs ?? (opts.security?.tls || opts.security?.sasl ? 5000 : 1000);
    this.metadataMaxAgeMs = opts.metadataMaxAgeMs ?? 300_000;
    this.nativeSockets = opts.nativeSockets ?? bunSocketsAvailable();
    this.checksum = opts.crc32c ?? crc32c;
    this.requestBuffer = this.nativeSockets
      ? (bytes) => {
          if (this.scratch.length < bytes) this.scratch = Buffer.allocUnsafe(Math.max(bytes, 2 * this.scratch.length));
          return this.scratch.subarray(0, bytes);
        }
      : Buffer.allocUnsafe;
  }

  private newConnection(addr: BrokerAddress): Connection {
    const opts = {
      host: addr.host,
      port: addr.port,
      connectTimeoutMs: this.connectTimeoutMs,
      requestTimeoutMs: this.opts.requestTimeoutMs + 1000,
      clientId: this.clientId,
      tls: this.opts.security?.tls ?? null,
      sasl: this.opts.security?.sasl ?? null,
    };
    return this.nativeSockets ? new BunBrokerConnection(opts) : new BrokerConnection(opts);
  }

  /** The connection for metadata, producer ids and probes: any bootstrap broker, the next one after a failure. */
  private async controlConnection(): Promise<Connection> {
    if (this.closed) throw new Error('Kafka sink closed');
    if (this.control?.usable) {
      await this.control.connect();
      return this.control;
    }
    this.control?.retire();
    const addr = this.bootstrap[this.bootstrapIndex++ % this.bootstrap.length] as BrokerAddress;
    const conn = this.newConnection(addr);
    this.control = conn;
    await conn.connect();
    return conn;
  }

  /** A request on the control connection; a broken one moves to the next bootstrap broker (each tried once). */
  private async controlRequest(encode: (correlationId: number) => Buffer): Promise<Buffer> {
    for (let tried = 1; ; tried++) {
      try {
        const conn = await this.controlConnection();
        const id = conn.correlationId();
        return await conn.request(id, encode(id));
      } catch (err) {
        if (isFatalConnectionError(err) || tried >= this.bootstrap.length || this.closed) throw err;
        this.control?.close();
      }
    }
  }

  /** Metadata for the topics of a batch, from the cache unless missing or older than metadataMaxAgeMs. */
  private async leadersFor(topics: readonly string[]): Promise<Map<string, readonly number[]>> {
    const now = Date.now();
    const missing = topics.filter((t) => {
      const c = this.topics.get(t);
      return !c || now - c.fetchedAt > this.metadataMaxAgeMs;
    });
    if (missing.length > 0) {
      const res = decodeMetadataResponse(
        await this.controlRequest((id) => encodeMetadataRequest(id, this.clientId, missing)),
      );
      for (const b of res.brokers) this.brokers.set(b.nodeId, b);
      for (const t of res.topics) {
        if (t.errorCode !== 0) throw new KafkaProtocolError(t.errorCode, `metadata of topic ${t.name}`);
        if (t.leaders.length === 0) throw new Error(`topic ${t.name} has no partitions`);
        this.topics.set(t.name, { leaders: t.leaders, fetchedAt: now });
      }
    }
    const out = new Map<string, readonly number[]>();
    for (const t of topics) {
      const c = this.topics.get(t);
      if (!c) throw new KafkaProtocolError(3, `metadata of topic ${t}`);
      out.set(t, c.leaders);
    }
    return out;
  }

  private async connectionTo(slot: Slot, nodeId: number): Promise<Connection> {
    let conn = slot.connections.get(nodeId);
    if (!conn?.usable) {
      conn?.retire();
      const addr = this.brokers.get(nodeId);
      if (!addr) throw new Error(`Kafka broker ${nodeId} is not in the metadata`);
      conn = this.newConnection(addr);
      slot.connections.set(nodeId, conn);
    }
    await conn.connect();
    return conn;
  }

  /** Pre-connects and fetches a producer id for every session (startup; sends retry on their own). */
  async connect(): Promise<void> {
    await this.controlConnection();
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.identity) return;
        const gen = slot.generation;
        const identity = await this.initProducerId();
        if (slot.generation === gen && !slot.identity) slot.identity = identity;
      }),
    );
  }

  private async initProducerId(): Promise<ProducerIdentity> {
    return decodeInitProducerIdResponse(
      await this.controlRequest((id) => encodeInitProducerIdRequest(id, this.clientId)),
    );
  }

  private dropSlot(slot: Slot): void {
    slot.generation++;
    slot.busy = false;
    slot.identity = null;
    slot.sequences.clear();
    for (const c of slot.connections.values()) c.close();
    slot.connections.clear();
  }

  async send(batch: readonly OutRecord[]): Promise<void> {
    // The group-commit producer never has more batches in flight than there are sessions.
    const slot = this.slots.find((s) => !s.busy);
    if (!slot) throw new Error('no idle Kafka producer session (more concurrent batches than EDGE_KAFKA_PRODUCERS)');
    slot.busy = true;
    const gen = slot.generation;
    const current = () => {
      if (slot.generation !== gen) throw new AbandonedError('batch abandoned: the Kafka sink was reset');
    };
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    try {
      const topicNames = [...new Set(batch.map((r) => r.topic))];
      const leaders = await this.leadersFor(topicNames);
      current();
      if (!slot.identity) {
        const identity = await this.initProducerId();
        current();
        slot.identity = identity;
        slot.sequences.clear();
      }
      const identity = slot.identity;

      // One piece of work per partition: its records and base sequence, fixed once. A retry resends exactly these
      // with the same numbers, so a piece that was in fact written is answered as a duplicate, never written twice.
      const byPartition = new Map<string, PartitionWork>();
      for (const r of batch) {
        const parts = leaders.get(r.topic) as readonly number[];
        const partition =
          r.key === null ? this.roundRobin++ % parts.length : partitionForStringKey(r.key, parts.length);
        const k = `${r.topic}\0${partition}`;
        let w = byPartition.get(k);
        if (!w) {
          w = { key: k, topic: r.topic, partition, baseSequence: 0, records: [] };
          byPartition.set(k, w);
        }
        w.records.push(r);
      }
      for (const w of byPartition.values()) {
        w.baseSequence = slot.sequences.get(w.key) ?? 0;
        slot.sequences.set(w.key, nextSequence(w.baseSequence, w.records.length));
      }

      let pending = [...byPartition.values()];
      for (let attempt = 1; ; attempt++) {
        const failed = await this.produceOnce(slot, identity, pending, current);
        current();
        if (failed.length === 0) return;
        // Only retriable partition errors and broken connections get here (anything else threw).
        const last = failed[failed.length - 1]?.error as Error;
        if (attempt >= SINK_RETRY.maxAttempts || Date.now() >= deadline) throw last;
        this.retries += failed.length;
        for (const f of failed) this.topics.delete(f.work.topic); // leaders moved: read them again
        await new Promise((r) =>
          setTimeout(r, Math.min(SINK_RETRY.maxBackoffMs, SINK_RETRY.initialBackoffMs * 2 ** attempt)),
        );
        current();
        await this.leadersFor([...new Set(failed.map((f) => f.work.topic))]);
        current();
        pending = failed.map((f) => f.work);
      }
    } catch (err) {
      if (err instanceof KafkaProtocolError && err.stale) this.topics.clear();
      if (slot.generation === gen) this.dropSlot(slot);
      throw err;
    } finally {
      if (slot.generation === gen) slot.busy = false;
    }
  }

  /** Partitions retried after a retriable error since start (a gauge for tests and metrics). */
  retries = 0;

  /**
   * One Produce per leader for `work`. Returns the pieces to retry (a retriable partition error, no leader, or the
   * request's connection failed); throws on anything else (the batch fails).
   */
  private async produceOnce(
    slot: Slot,
    identity: ProducerIdentity,
    work: readonly PartitionWork[],
    current: () => void,
  ): Promise<{ work: PartitionWork; error: Error }[]> {
    const failed: { work: PartitionWork; error: Error }[] = [];
    const byNode = new Map<number, PartitionWork[]>();
    for (const w of work) {
      const leader = this.topics.get(w.topic)?.leaders[w.partition] ?? -1;
      if (leader < 0) {
        failed.push({ work: w, error: new KafkaProtocolError(5, `topic ${w.topic} partition ${w.partition}`) });
        continue;
      }
      const list = byNode.get(leader) ?? [];
      list.push(w);
      byNode.set(leader, list);
    }
    const settled = await Promise.allSettled(
      [...byNode].map(async ([nodeId, list]) => {
        let results: ReturnType<typeof decodeProduceResponse>;
        try {
          const conn = await this.connectionTo(slot, nodeId);
          current();
          const id = conn.correlationId();
          const topics = new Map<string, PartitionBatch[]>();
          for (const w of list) {
            const ps = topics.get(w.topic) ?? [];
            ps.push({ partition: w.partition, baseSequence: w.baseSequence, records: w.records });
            topics.set(w.topic, ps);
          }
          const batches: TopicBatches[] = [...topics].map(([topic, partitions]) => ({ topic, partitions }));
          const plain = encodeProduceRequest(
            id,
            this.clientId,
            ACKS_ALL,
            this.opts.requestTimeoutMs,
            identity,
            batches,
            Date.now(),
            this.checksum,
            this.requestBuffer,
          );
          const req = compressProduceRequest(plain, this.opts.compression ?? 'none', this.checksum);
          results = decodeProduceResponse(await conn.request(id, req));
        } catch (err) {
          if (err instanceof AbandonedError || isFatalConnectionError(err)) throw err;
          // The broker died or the connection broke: the outcome is unknown, so the same pieces go again.
          for (const w of list) failed.push({ work: w, error: err as Error });
          return;
        }
        const answered = new Set<string>();
        for (const res of results) {
          const w = list.find((x) => x.topic === res.topic && x.partition === res.partition);
          if (!w) continue;
          answered.add(w.key);
          // DUPLICATE_SEQUENCE_NUMBER: this piece was written by an earlier attempt.
          if (res.errorCode === 0 || res.errorCode === 46) continue;
          const error = new KafkaProtocolError(res.errorCode, `produce to ${res.topic} partition ${res.partition}`);
          if (RETRIABLE_PRODUCE_CODES.has(res.errorCode)) failed.push({ work: w, error });
          else throw error;
        }
        if (answered.size < list.length) throw new Error(`produce answer from broker ${nodeId} misses partitions`);
      }),
    );
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    return failed;
  }

  /** After a failed or timed-out batch: every session starts over with a new producer id. */
  reset(): void {
    for (const slot of this.slots) this.dropSlot(slot);
    this.topics.clear();
  }

  async probe(timeoutMs: number): Promise<boolean> {
    if (this.closed) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const check = this.controlRequest((id) => encodeMetadataRequest(id, this.clientId, [])).then(
      (body) => decodeMetadataResponse(body).brokers.length > 0,
      (err: Error) => {
        this.opts.log.debug('kafka probe failed', { error: err.message });
        return false;
      },
    );
    const ok = await Promise.race([check, expired]);
    clearTimeout(timer);
    return ok;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots) this.dropSlot(slot);
    this.control?.close();
    this.control = null;
  }
}

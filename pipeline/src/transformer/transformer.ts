/**
 * The transformer: consumes every raw webhook topic, calls the normalizer once per fetched chunk, and produces
 * normalized events to `payments.normalized` (key event_id) and rejected messages to `payments.validation.dlq`
 * (key raw id; the record carries the ORIGINAL topic/partition/offset).
 *
 * Delivery (TRANSFORMER_MODE):
 * - `exactly_once` (default): consume-transform-produce in Kafka transactions (the chunks of one fetch share one),
 *   with the consumer offsets sent inside the transaction (`sendOffsets`). Downstream consumers read committed only, so an output
 *   is visible exactly when its input offset is committed. A crashed instance's open transaction is aborted when an
 *   instance with the same transactional id starts (or after the transaction timeout).
 * - `at_least_once`: idempotent producer, offsets committed after the outputs are acknowledged; a crash may repeat
 *   the uncommitted tail, and downstream consumers dedup on event_id.
 *
 * Every output carries headers naming its source (topic, partition, offset, output i/n of that source) so that
 * reconciliation can prove each raw message landed in exactly one place. Not for validation rules: those live in
 * core-native.
 */
import { OUTPUT_HEADERS, RAW_HEADERS } from '@pep/contracts';
import type {
  Admin,
  Consumer,
  EachBatchPayload,
  IHeaders,
  KafkaMessage,
  Message,
  Producer,
  TopicMessages,
} from 'kafkajs';
import { CompressionTypes, Partitioners } from 'kafkajs';
import { providerOfTopic, type TransformerConfig } from '../lib/config.ts';
import { createKafka, startLagPoller } from '../lib/kafka.ts';
import type { Logger } from '../lib/log.ts';
import { Registry } from '../lib/metrics.ts';
import { type Normalizer, type OutputSet, PROVIDER_CODES, type RawBatch } from './normalizer.ts';

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

function headerString(h: IHeaders | undefined, name: string): string | undefined {
  const v = h?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : typeof one === 'string' ? one : one.toString('utf8');
}

/** Receive time: the edge's header, else the Kafka timestamp; NaN when neither is a sane instant. */
export function receivedAtMs(m: KafkaMessage): number {
  const h = headerString(m.headers, RAW_HEADERS.receivedAt);
  if (h !== undefined && h.length <= 40) {
    const ms = Date.parse(h);
    if (Number.isFinite(ms)) return ms;
  }
  const ts = Number(m.timestamp);
  return Number.isInteger(ts) && ts > 0 ? ts : Number.NaN;
}

/** Packs kafkajs messages of one topic-partition into core-native's batch layout. */
export function packBatch(topic: string, partition: number, messages: readonly KafkaMessage[]): RawBatch {
  const n = messages.length;
  let total = 0;
  for (const m of messages) total += m.value?.length ?? 0;
  const data = Buffer.allocUnsafe(total);
  const offsets = new Uint32Array(n);
  const lengths = new Uint32Array(n);
  const received = new Float64Array(n);
  const kafkaOffsets = new Float64Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i] as KafkaMessage;
    const v = m.value;
    offsets[i] = pos;
    if (v) {
      v.copy(data, pos);
      pos += v.length;
    }
    lengths[i] = v?.length ?? 0;
    received[i] = receivedAtMs(m);
    // Offsets stay far below 2^53 in practice; the exact string travels in the source-offset header regardless.
    kafkaOffsets[i] = Number(m.offset);
  }
  const provider = PROVIDER_CODES[providerOfTopic(topic)];
  return {
    data,
    offsets,
    lengths,
    providers: new Uint8Array(n).fill(provider),
    topics: [topic],
    topicIndex: new Uint16Array(n),
    partitions: new Int32Array(n).fill(partition),
    kafkaOffsets,
    receivedAtMs: received,
  };
}

function view(buf: Uint8Array, off: number, len: number): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + off, len);
}

/** Output records of one set as kafkajs messages, with the source headers; `ordinal` numbers outputs per source. */
export function toMessages(
  set: OutputSet,
  source: { topic: string; partition: number; messages: readonly KafkaMessage[] },
  ordinal: { next: Uint32Array; total: Uint32Array },
): Message[] {
  const out: Message[] = new Array(set.offsets.length);
  for (let i = 0; i < set.offsets.length; i++) {
    const src = set.sourceIndex[i] as number;
    const m = source.messages[src] as KafkaMessage;
    const keyLen = set.keyLengths[i] as number;
    const headers: IHeaders = {
      [OUTPUT_HEADERS.sourceTopic]: source.topic,
      [OUTPUT_HEADERS.sourcePartition]: String(source.partition),
      [OUTPUT_HEADERS.sourceOffset]: m.offset,
      [OUTPUT_HEADERS.sourceOutput]: `${ordinal.next[src]}/${ordinal.total[src]}`,
    };
    ordinal.next[src] = (ordinal.next[src] as number) + 1;
    for (const h of [OUTPUT_HEADERS.receivedAt, OUTPUT_HEADERS.requestId, OUTPUT_HEADERS.provider]) {
      const v = headerString(m.headers, h);
      if (v !== undefined && v.length <= 256) headers[h] = v;
    }
    out[i] = {
      key: keyLen > 0 ? view(set.keys, set.keyOffsets[i] as number, keyLen) : null,
      value: view(set.data, set.offsets[i] as number, set.lengths[i] as number),
      headers,
    };
  }
  return out;
}

const OVERSIZE_HEADER = OUTPUT_HEADERS.oversizeReplaced;

/** Approximate bytes of a produced record (value, key, headers). */
export function messageBytes(m: Message): number {
  let n = (m.value as Buffer | null)?.length ?? 0;
  n += typeof m.key === 'string' ? Buffer.byteLength(m.key) : ((m.key as Buffer | null)?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + String(v).length;
  return n + 64;
}

/**
 * A small DLQ record standing in for an output the broker would refuse (message.max.bytes): the raw record is
 * still in its topic at the coordinates given, so nothing is lost; the payload is omitted, not truncated.
 */
export function oversizeDlqRecord(m: Message, what: string): Message {
  const h = m.headers ?? {};
  const text = (k: string) => (h[k] === undefined ? null : String(h[k]));
  const size = (m.value as Buffer | null)?.length ?? 0;
  let ids: { event_id: unknown; provider: unknown; provider_event_id: unknown } = {
    event_id: null,
    provider: null,
    provider_event_id: null,
  };
  try {
    const v = JSON.parse(String(m.value));
    ids = {
      event_id: v.event_id ?? null,
      provider: v.provider ?? null,
      provider_event_id: v.provider_event_id ?? null,
    };
  } catch {
    // keep nulls: the record is ours, but if it does not parse the ids are simply unknown
  }
  const now = new Date().toISOString();
  return {
    key: m.key ?? null,
    headers: { ...h, [OVERSIZE_HEADER]: what },
    value: JSON.stringify({
      ...ids,
      item_index: null,
      original_payload: null,
      original_payload_encoding: null,
      validation_errors: [
        {
          field: 'payload',
          code: 'RECORD_TOO_LARGE',
          message: `${what} of ${size} bytes exceeds the output record limit; the raw record stays at its source coordinates`,
        },
      ],
      failure_reason: 'RECORD_TOO_LARGE',
      source_topic: text('source-topic'),
      kafka_partition: Number(text('source-partition')),
      kafka_offset: Number(text('source-offset')),
      received_at: text('received-at'),
      quarantined_at: now,
      schema_version: 1,
    }),
  };
}

interface PendingChunk {
  readonly topic: string;
  readonly partition: number;
  /** The offset to commit: last message of the chunk + 1. */
  readonly nextOffset: string;
  readonly events: Message[];
  readonly dlq: Message[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** A transactional producer (exactly_once) or an idempotent one (at_least_once) with a stable id. */
interface Lane {
  readonly transactionalId: string;
  producer: Producer | null;
}

/**
 * One commit queue; a partition always uses the same slot, so its chunks commit in order. In exactly_once mode a
 * slot alternates between two transactional producers: the broker answers CONCURRENT_TRANSACTIONS to a producer
 * whose previous transaction is still writing its commit markers (kafkajs then backs off 20–140 ms), while the
 * other producer's last transaction ended a whole transaction earlier. Transactions of one slot still run one
 * after the other, so its partitions' offsets commit in order.
 */
interface Slot {
  readonly index: number;
  readonly lanes: Lane[];
  /** The lane the next transaction uses. */
  turn: number;
  readonly pending: PendingChunk[];
  committing: boolean;
  /** A commit run is scheduled (setImmediate) but not started: chunks arriving meanwhile join it. */
  scheduled: boolean;
}

/**
 * The zombie guard's rule: a member the group coordinator has not confirmed (join or successful heartbeat) for
 * half the session timeout may already have been evicted, its partitions handed to another member; it must not
 * commit a transaction for them. kafkajs sends TxnOffsetCommit without the group generation (no KIP-447), so the
 * broker would accept such a commit; this local check is what stops a process that stalled (GC, a frozen VM)
 * from committing stale work after it wakes up. It narrows the window to a stall that begins between this check
 * and the EndTxn request leaving the process; it is not a broker-side fence.
 */
export function membershipInDoubt(confirmedAgeMs: number, sessionTimeoutMs: number): boolean {
  return !(confirmedAgeMs <= sessionTimeoutMs / 2);
}

/** Stable slot of a topic-partition (FNV-1a): its chunks are committed in order by one producer. */
export function slotOf(topic: string, partition: number, slots: number): number {
  let h = 0x811c9dc5;
  const key = `${topic}/${partition}`;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % slots;
}

export class Transformer {
  readonly metrics = new TransformerMetrics();
  private readonly slots: Slot[];
  private consumer: Consumer | null = null;
  private admin: Admin | null = null;
  private stopLag: (() => void) | null = null;
  /** When the group coordinator last confirmed this member (join or successful heartbeat); see membershipInDoubt. */
  private memberConfirmedAtMs = Number.NEGATIVE_INFINITY;
  private readonly kafka;

  constructor(
    private readonly cfg: TransformerConfig,
    private readonly normalizer: Normalizer,
    private readonly log: Logger,
    /** Called when the consumer stopped for good (kafkajs will not restart it); run.ts exits the process. */
    private readonly onFatal: (err: Error) => void = () => undefined,
  ) {
    this.kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: cfg.clientId, log });
    const lanes = cfg.mode === 'exactly_once' ? 2 : 1;
    this.slots = Array.from({ length: cfg.producers }, (_, index) => {
      // One slot keeps the configured id as is for its first lane; every id is stable across restarts, so a
      // restarted instance fences all of its predecessor's producers (start() initialises every lane).
      const base = cfg.producers === 1 ? cfg.transactionalId : `${cfg.transactionalId}-p${index}`;
      return {
        index,
        lanes: Array.from({ length: lanes }, (_, l) => ({
          transactionalId: l === 0 ? base : `${base}-alt${l}`,
          producer: null,
        })),
        turn: 0,
        pending: [],
        committing: false,
        scheduled: false,
      };
    });
  }

  private newProducer(transactionalId: string): Producer {
    const eos = this.cfg.mode === 'exactly_once';
    return this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      ...(eos ? { transactionalId, transactionTimeout: this.cfg.transactionTimeoutMs } : {}),
      // CONCURRENT_TRANSACTIONS right after a commit is normal (markers still being written): retry quickly.
      retry: { retries: 10, initialRetryTime: 20, maxRetryTime: 2000 },
    });
  }

  private async ensureProducer(lane: Lane): Promise<Producer> {
    if (lane.producer) return lane.producer;
    const p = this.newProducer(lane.transactionalId);
    // With a transactional id, connect() runs InitProducerId: it fences any older instance with this id and aborts
    // the transaction it left open (e.g. after SIGKILL), so its outputs never become visible.
    await p.connect();
    lane.producer = p;
    return p;
  }

  private async dropProducer(lane: Lane): Promise<void> {
    const p = lane.producer;
    lane.producer = null;
    await p?.disconnect().catch(() => undefined);
  }

  private allLanes(): Lane[] {
    return this.slots.flatMap((slot) => slot.lanes);
  }

  async start(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.admin.connect();
    // Initialise every slot before consuming: this aborts whatever a crashed predecessor left open.
    await Promise.all(this.allLanes().map((lane) => this.ensureProducer(lane)));
    const consumer = this.kafka.consumer({
      groupId: this.cfg.groupId,
      sessionTimeout: this.cfg.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(this.cfg.sessionTimeoutMs / 3)),
      maxBytesPerPartition: this.cfg.maxFetchBytesPerPartition,
      maxBytes: this.cfg.maxFetchBytes,
      maxWaitTimeInMs: this.cfg.fetchMaxWaitMs,
      minBytes: this.cfg.fetchMinBytes,
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.memberConfirmedAtMs = Date.now();
      this.log.info('partitions assigned', {
        assignment: e.payload.memberAssignment,
        generation: (e.payload as { generationId?: number }).generationId,
      });
    });
    // Emitted by kafkajs only after the coordinator accepted the heartbeat.
    consumer.on(consumer.events.HEARTBEAT, () => {
      this.memberConfirmedAtMs = Date.now();
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.log.error('consumer crashed', { err: e.payload.error, restart: e.payload.restart });
      // kafkajs gives up on non-retriable errors: the consumer is gone, so the process must not look alive.
      if (!e.payload.restart) this.onFatal(e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.cfg.inputTopics], fromBeginning: this.cfg.fromBeginning });
    await consumer.run({
      // Offsets move only with our commits: inside the transaction (exactly_once) or after the acks (at_least_once).
      autoCommit: this.cfg.mode === 'at_least_once',
      eachBatchAutoResolve: false,
      // Partitions are normalized concurrently and their chunks share transactions (see commitLoop).
      partitionsConsumedConcurrently: this.cfg.partitionsConcurrency,
      eachBatch: (p) => this.handleBatch(p),
    });
    this.stopLag = startLagPoller({
      admin: this.admin,
      groupId: this.cfg.groupId,
      topics: this.cfg.inputTopics,
      gauge: this.metrics.lag,
      intervalMs: this.cfg.lagIntervalMs,
      log: this.log,
    });
    this.log.info('transformer started', {
      group: this.cfg.groupId,
      mode: this.cfg.mode,
      normalizer: this.normalizer.kind,
      topics: this.cfg.inputTopics,
      transactional_ids: this.cfg.mode === 'exactly_once' ? this.allLanes().map((x) => x.transactionalId) : undefined,
    });
  }

  private async handleBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    for (let i = 0; i < batch.messages.length; i += this.cfg.maxBatchMessages) {
      // After a rebalance the partition may belong to someone else: leave the rest to them.
      if (!p.isRunning() || p.isStale()) return;
      const chunk = batch.messages.slice(i, i + this.cfg.maxBatchMessages);
      await this.processChunk(batch.topic, batch.partition, chunk);
      p.resolveOffset((chunk[chunk.length - 1] as KafkaMessage).offset);
      if (this.cfg.mode === 'at_least_once') await p.commitOffsetsIfNecessary();
      await p.heartbeat();
    }
  }

  private async processChunk(topic: string, partition: number, chunk: KafkaMessage[]): Promise<void> {
    const t0 = performance.now();
    const raw = packBatch(topic, partition, chunk);
    const out = this.normalizer.normalizeBatch(raw, { normalizedAtMs: Date.now() });
    const t1 = performance.now();
    this.metrics.normalizeSeconds.observe((t1 - t0) / 1000);

    const total = new Uint32Array(chunk.length);
    for (const s of out.events.sourceIndex) total[s] = (total[s] as number) + 1;
    for (const s of out.dlq.sourceIndex) total[s] = (total[s] as number) + 1;
    for (let i = 0; i < chunk.length; i++) {
      // The core answers every input with at least one record; a silent drop would break "exactly one place".
      if (total[i] === 0)
        throw new Error(`normalizer produced no output for ${topic}/${partition}@${chunk[i]?.offset}`);
    }
    const ordinal = { next: new Uint32Array(chunk.length), total };
    const source = { topic, partition, messages: chunk };
    const events: Message[] = [];
    const dlq = toMessages(out.dlq, source, ordinal);
    for (const m of toMessages(out.events, source, ordinal)) {
      if (messageBytes(m) <= this.cfg.maxRecordBytes) events.push(m);
      else dlq.push(oversizeDlqRecord(m, 'normalized event'));
    }
    for (let i = 0; i < dlq.length; i++) {
      const m = dlq[i] as Message;
      if (messageBytes(m) > this.cfg.maxRecordBytes) dlq[i] = oversizeDlqRecord(m, 'validation DLQ record');
    }
    if (dlq.some((m) => m.headers?.[OVERSIZE_HEADER])) {
      this.log.warn('oversize outputs replaced by RECORD_TOO_LARGE DLQ records', { topic, partition });
    }
    const nextOffset = (BigInt((chunk[chunk.length - 1] as KafkaMessage).offset) + 1n).toString();

    await new Promise<void>((resolve, reject) => {
      const slot = this.slots[slotOf(topic, partition, this.slots.length)] as Slot;
      slot.pending.push({ topic, partition, nextOffset, events, dlq, resolve, reject });
      // kafkajs hands the batches of one fetch to the partition handlers in the same tick: starting the commit on
      // the next macrotask lets all of them share one transaction instead of the first one going alone (measured
      // before: 1–2 chunks per transaction with 3 partitions, so most chunks waited for two transactions).
      if (!slot.committing && !slot.scheduled) {
        slot.scheduled = true;
        setImmediate(() => {
          slot.scheduled = false;
          if (!slot.committing) void this.commitLoop(slot);
        });
      }
    });

    this.metrics.inputs.inc({ topic }, chunk.length);
    this.metrics.outputs.inc({ kind: 'normalized' }, events.length);
    this.metrics.outputs.inc({ kind: 'dlq' }, dlq.length);
    const now = Date.now();
    for (let i = 0; i < chunk.length; i++) {
      const r = raw.receivedAtMs[i] as number;
      if (Number.isFinite(r)) this.metrics.endToEndSeconds.observe(Math.max(0, now - r) / 1000);
    }
    this.log.debug('chunk committed', {
      topic,
      partition,
      first_offset: chunk[0]?.offset,
      messages: chunk.length,
      normalized: events.length,
      dlq: dlq.length,
    });
  }

  /**
   * Group commit: chunks of all partitions that are ready while a transaction is in flight go into the next one
   * (one transaction, one sendOffsets for all their partitions). The queue holds at most one chunk per partition
   * being processed (each handler waits for its chunk), so it is bounded by partitionsConsumedConcurrently.
   * Slots (producers) commit in parallel, each for its own partitions: round trips overlap instead of queueing.
   */
  private async commitLoop(slot: Slot): Promise<void> {
    slot.committing = true;
    try {
      while (slot.pending.length > 0) {
        const items = slot.pending.splice(0, slot.pending.length);
        const t0 = performance.now();
        try {
          await this.commitItems(slot, items);
          this.metrics.chunks.inc({ result: 'committed' }, items.length);
          this.metrics.transactions.inc({ result: 'committed' });
          this.metrics.commitSeconds.observe((performance.now() - t0) / 1000);
          for (const it of items) it.resolve();
        } catch (err) {
          this.metrics.chunks.inc({ result: 'failed' }, items.length);
          this.metrics.transactions.inc({ result: 'failed' });
          this.log.error('outputs not committed, chunks will be retried', {
            err,
            partitions: items.map((it) => `${it.topic}/${it.partition}<${it.nextOffset}`),
          });
          // A failed transactional producer may be fenced or in an unknown state: start from a fresh InitProducerId.
          await Promise.all(slot.lanes.map((lane) => this.dropProducer(lane)));
          for (const it of items) it.reject(err);
        }
      }
    } finally {
      slot.committing = false;
    }
  }

  /** Produce requests of at most maxRequestBytes each, so no partition's record batch exceeds the broker's limit. */
  private requests(items: readonly PendingChunk[]): TopicMessages[][] {
    const requests: TopicMessages[][] = [];
    let current = new Map<string, Message[]>();
    let bytes = 0;
    const flush = () => {
      if (current.size) requests.push([...current].map(([topic, messages]) => ({ topic, messages })));
      current = new Map();
      bytes = 0;
    };
    const add = (topic: string, m: Message) => {
      const n = messageBytes(m);
      if (bytes + n > this.cfg.maxRequestBytes && bytes > 0) flush();
      const list = current.get(topic) ?? [];
      list.push(m);
      current.set(topic, list);
      bytes += n;
    };
    for (const it of items) {
      for (const m of it.events) add(this.cfg.normalizedTopic, m);
      for (const m of it.dlq) add(this.cfg.dlqTopic, m);
    }
    flush();
    return requests;
  }

  private async commitItems(slot: Slot, items: readonly PendingChunk[]): Promise<void> {
    const requests = this.requests(items);
    const lane = slot.lanes[slot.turn] as Lane;
    slot.turn = (slot.turn + 1) % slot.lanes.length;
    const producer = await this.ensureProducer(lane);
    if (this.cfg.mode !== 'exactly_once') {
      for (const topicMessages of requests) {
        await producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
      }
      return;
    }
    const offsets = new Map<string, { partition: number; offset: string }[]>();
    for (const it of items) {
      const list = offsets.get(it.topic) ?? [];
      list.push({ partition: it.partition, offset: it.nextOffset });
      offsets.set(it.topic, list);
    }
    const tx = await producer.transaction();
    try {
      for (const topicMessages of requests) {
        await tx.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
      }
      await tx.sendOffsets({
        consumerGroupId: this.cfg.groupId,
        topics: [...offsets].map(([topic, partitions]) => ({ topic, partitions })),
      });
      // Last step before EndTxn: a member that may have been evicted while this transaction ran must not commit.
      const confirmedAgeMs = Date.now() - this.memberConfirmedAtMs;
      if (membershipInDoubt(confirmedAgeMs, this.cfg.sessionTimeoutMs)) {
        this.metrics.membershipAborts.inc();
        throw new Error(
          `group membership not confirmed for ${confirmedAgeMs} ms (session timeout ${this.cfg.sessionTimeoutMs} ms): transaction aborted`,
        );
      }
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      throw err;
    }
  }

  /** Finishes the chunk in hand, leaves the group (partitions move cleanly), closes the producer. */
  async stop(): Promise<void> {
    this.stopLag?.();
    this.stopLag = null;
    await this.consumer?.disconnect();
    this.consumer = null;
    await Promise.all(this.allLanes().map((lane) => this.dropProducer(lane)));
    await this.admin?.disconnect();
    this.admin = null;
    this.log.info('transformer stopped');
  }
}

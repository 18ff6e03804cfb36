/**
 * The transformer: consumes every raw webhook topic and produces normalized events to `payments.normalized` (key
 * event_id) and rejected messages to `payments.validation.dlq` (key raw id; the record carries the ORIGINAL
 * topic/partition/offset), every output with headers naming its source (contracts OUTPUT_HEADERS), so that
 * reconciliation can prove each raw message landed in exactly one place. On kafka-wire, with no JS object per record
 * anywhere on the data path. Not for validation rules: those live in core-native.
 *
 * One step = one fetch: GroupConsumer.poll() returns the raw record bytes of every owned partition (one Fetch per
 * leader), ONE core.transformRecordSets() call decodes, normalizes and encodes them into ready-to-send record
 * sections per output topic-partition, then ONE Kafka transaction (TransactionalProducer.commit) produces them and
 * commits the input offsets with the group generation the records were fetched under (KIP-447). Then the positions
 * move and the next fetch starts. A failed step moves nothing: positions are reloaded from the committed offsets and
 * the records are fetched again.
 *
 * Zombie fencing is the broker's: a member evicted from the group (frozen, partitioned) that wakes up with work in
 * hand gets ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID on TxnOffsetCommit, its transaction is aborted, and it rejoins.
 * A second instance with the same transactional id fences this one's producer (PRODUCER_FENCED): fatal, so a
 * supervisor restarts it rather than two instances fencing each other in turn.
 *
 * at_least_once: the same batches through an idempotent producer, then OffsetCommit with the generation; a crash
 * between the two repeats the uncommitted tail (downstream dedups on event_id).
 */

import type { Logger } from '@pep/contracts/log';
import type { CoreImpl, FetchedRecordSet, OutputPartition, TransformedFetch } from '@pep/core-native';
import { PROVIDER_CODES } from '@pep/core-native';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import { ConsumerFatalError, type FetchBatch, GroupConsumer, type MemberGeneration } from '@pep/kafka-wire/consumer';
import { KafkaProtocolError } from '@pep/kafka-wire/protocol';
import { type StageHook, TransactionError } from '@pep/kafka-wire/transaction';
import { providerOfTopic, type TransformerConfig } from '../lib/config.ts';
import { TransformerMetrics } from './metrics.ts';

/** What the wire transformer needs of core-native. */
export interface RecordCore {
  readonly kind: string;
  transformRecordSets: CoreImpl['transformRecordSets'];
  /** core-native's CRC-32C for the output batch headers (kafka-wire's TypeScript one when absent). */
  crc32c?: CoreImpl['crc32c'];
}

/** One output topic-partition's records section (core-native's OutputPartition with its topic). */
export interface OutputBatch extends OutputPartition {
  readonly topic: string;
}

export interface CommitOffsets {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly partitions: readonly { topic: string; partition: number; offset: bigint }[];
}

/** The producer side as the transformer uses it (kafka-wire's TransactionalProducer behind an adapter). */
export interface OutputProducer {
  init(): Promise<void>;
  /** exactly_once: one transaction with the batches and the offsets. at_least_once: the batches, acked. */
  send(batches: readonly OutputBatch[], offsets: CommitOffsets): Promise<void>;
  close(): Promise<void>;
}

export type OutputProducerFactory = (
  cluster: KafkaCluster,
  cfg: TransformerConfig,
  core: RecordCore,
  stages?: StageHook,
) => OutputProducer;

export interface TransformerOptions {
  /** Instrumentation (stages.ts StageTimeline): told at every stage boundary of the loop. Absent: no cost. */
  readonly stages?: StageHook;
}

/** Kafka error codes by which the group coordinator refuses offsets of a member that is not current. */
const GROUP_FENCE_CODES = [22, 25, 27, 82]; // ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID
/** How long a failed step retries InitProducerId before its rewind (which then waits out the open transaction). */
const REINIT_BUDGET_MS = 20_000;
/** Consecutive failed steps before the transformer gives up (then onFatal; the supervisor restarts it). */
const MAX_CONSECUTIVE_FAILURES = 20;

/** How a failed step is handled. */
export type FailureKind = 'producer_fenced' | 'group_fenced' | 'retry';

/** Classifies a failed step by its error (TransactionError flags, or the Kafka code of an OffsetCommit). */
export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof TransactionError) {
    if (err.fenced) return 'producer_fenced';
    if (err.groupFenced) return 'group_fenced';
    return 'retry';
  }
  if (err instanceof KafkaProtocolError && GROUP_FENCE_CODES.includes(err.code)) return 'group_fenced';
  return 'retry';
}

export class WireTransformer {
  readonly metrics = new TransformerMetrics();
  private cluster: KafkaCluster | null = null;
  private consumer: GroupConsumer | null = null;
  private producer: OutputProducer | null = null;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private normalizedPartitions = 0;
  private dlqPartitions = 0;
  private failures = 0;
  /** The commit running while the next fetch is prepared (pipelineFetch), and its error once it failed. */
  private inFlight: Promise<void> | null = null;
  private commitFailure: unknown = null;
  /** The poll sent while the commit in flight runs (prefetch), settled into a value or an error. */
  private prefetched: Promise<Settled<FetchBatch>> | null = null;
  /**
   * A failed step's positions still have to be reloaded from the committed offsets (the rewind failed, e.g. the
   * group coordinator was down): the next step does that before it fetches, so no transaction starts from positions
   * past the failed one's records.
   */
  private rewindPending = false;
  private readonly stages: StageHook | undefined;

  constructor(
    private readonly cfg: TransformerConfig,
    private readonly core: RecordCore,
    private readonly log: Logger,
    private readonly producerFactory: OutputProducerFactory,
    private readonly onFatal: (err: Error) => void = () => undefined,
    opts: TransformerOptions = {},
  ) {
    this.stages = opts.stages;
  }

  async start(): Promise<void> {
    const cluster = new KafkaCluster({
      brokers: this.cfg.kafkaBrokers,
      clientId: this.cfg.clientId,
      security: this.cfg.kafka,
      lanes: {
        // A long-polling Fetch must not time out, and must not hold up heartbeats or the transaction's requests.
        fetch: { requestTimeoutMs: Math.max(this.cfg.fetchMaxWaitMs, this.cfg.fetchIdleMaxWaitMs) + 30_000 },
        join: { requestTimeoutMs: this.cfg.sessionTimeoutMs * 2 + 30_000 },
      },
    });
    this.cluster = cluster;
    this.normalizedPartitions = await cluster.partitionCount(this.cfg.normalizedTopic);
    this.dlqPartitions = await cluster.partitionCount(this.cfg.dlqTopic);
    // Initialise the producer before consuming: InitProducerId fences a predecessor with the same transactional id
    // and aborts the transaction it left open (e.g. after SIGKILL), so its outputs never become visible.
    const producer = this.producerFactory(cluster, this.cfg, this.core, this.stages);
    await producer.init();
    this.producer = producer;
    const consumer = new GroupConsumer({
      cluster,
      groupId: this.cfg.groupId,
      topics: this.cfg.inputTopics,
      sessionTimeoutMs: this.cfg.sessionTimeoutMs,
      rebalanceTimeoutMs: this.cfg.sessionTimeoutMs * 2,
      heartbeatIntervalMs: Math.min(3000, Math.floor(this.cfg.sessionTimeoutMs / 3)),
      maxWaitMs: this.cfg.fetchMaxWaitMs,
      minBytes: this.cfg.fetchMinBytes,
      idleMaxWaitMs: this.cfg.fetchIdleMaxWaitMs,
      maxBytes: this.cfg.maxFetchBytes,
      maxBytesPerPartition: this.cfg.maxFetchBytesPerPartition,
      resetPolicy: this.cfg.fromBeginning ? 'earliest' : 'latest',
      log: this.log.child({ component: 'group' }),
      onAssigned: () => this.metrics.lag.clear(),
    });
    this.consumer = consumer;
    await consumer.start();
    this.loop = this.run();
    this.log.info('transformer started', {
      client: 'wire',
      group: this.cfg.groupId,
      mode: this.cfg.mode,
      core: this.core.kind,
      topics: this.cfg.inputTopics,
      transactional_id: this.cfg.mode === 'exactly_once' ? this.cfg.transactionalId : undefined,
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.step();
        this.failures = 0;
      } catch (err) {
        if (this.stopping) break;
        this.stages?.enter('other');
        const fatal = await this.recover(err);
        if (fatal) {
          this.stopping = true;
          this.log.error('transformer stopped for good', { err: fatal });
          this.onFatal(fatal);
          return;
        }
      }
    }
  }

  /** Handles a failed step; returns an error when the transformer must stop. */
  private async recover(err: unknown): Promise<Error | null> {
    this.failures++;
    if (err instanceof ConsumerFatalError) return err;
    const kind = classifyFailure(err);
    if (kind === 'producer_fenced') {
      return new Error('transactional producer fenced: another instance uses this transactional id', { cause: err });
    }
    if (this.failures > MAX_CONSECUTIVE_FAILURES) {
      return new Error(`${MAX_CONSECUTIVE_FAILURES} consecutive failed steps`, { cause: err });
    }
    if (kind === 'group_fenced') {
      // The group moved on without us (e.g. we stalled past the session timeout): the broker refused our offsets
      // and the transaction was aborted. Rejoin; the records go to whoever owns the partitions now.
      this.metrics.membershipAborts.inc();
      this.consumer?.requestRejoin();
      this.log.warn('transaction aborted: the group fenced this member (stale generation)', { err });
    } else this.log.error('step failed, its records will be fetched again', { err, failures: this.failures });
    try {
      // Quiesce first: a commit still in flight must end before positions are reloaded from the committed offsets,
      // and a prefetched answer (fetched from positions that are about to be reloaded) is dropped.
      await this.settle().catch((e: unknown) => this.log.warn('commit in flight failed too', { err: e }));
      await this.dropPrefetched();
      await new Promise((r) => setTimeout(r, Math.min(2000, 10 * 2 ** this.failures)));
      this.rewindPending = true;
      // InitProducerId before the rewind: it ends the failed transaction if the abort could not (commits one whose
      // EndTxn(commit) went out, aborts an open one), so the rewind's OffsetFetch (require_stable) finds its offsets
      // settled instead of waiting for the transaction timeout. If it keeps failing, the rewind waits.
      if (this.cfg.mode === 'exactly_once') await this.reinitProducer();
      await this.consumer?.rewind();
      this.rewindPending = false;
    } catch (rewindErr) {
      this.log.warn('rewind failed, retrying with the next step', { err: rewindErr });
    }
    return null;
  }

  /**
   * Re-initialises the producers a failed transaction left needing it, retrying while the coordinator is still ending
   * that transaction (CONCURRENT_TRANSACTIONS while its markers are written, a coordinator moving): bounded.
   */
  private async reinitProducer(): Promise<void> {
    const deadline = Date.now() + REINIT_BUDGET_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.producer?.init();
        return;
      } catch (err) {
        if (!(err instanceof TransactionError && err.retriable) || Date.now() > deadline || this.stopping) {
          this.log.warn('producer re-init before the rewind failed; the rewind waits for the open transaction', {
            err,
          });
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
  }

  /**
   * One fetch: poll, transform, commit.
   * - `prefetch` (default): the next Fetch is sent as soon as a commit starts, so the broker answers it while the
   *   transaction runs; the answer is transformed only after that transaction ended. Positions move on when the
   *   commit starts (a failed commit rewinds them to the committed offsets, and the prefetched answer is dropped).
   *   No transaction is open while the transformer computes, so a process frozen mid-transform (the zombie case)
   *   holds no transaction open.
   * - `pipelineFetch`: the next fetch is also transformed while the commit runs (transaction N+1 still starts only
   *   after N ended, so offsets commit in order), at the price of a transaction open during the transform.
   * - neither: fetch, transform, commit one after the other.
   */
  private async step(): Promise<void> {
    const consumer = this.consumer as GroupConsumer;
    // Finish the work in hand before a rejoin (the rejoin reloads positions from the committed offsets), and
    // surface a failed background commit before fetching past its records.
    this.stages?.enter('other');
    if (consumer.needsRejoin || this.commitFailure) await this.settle();
    if (this.rewindPending) {
      // The last failed step's rewind failed: redo it (a failure fails this step, and recover() tries again).
      await consumer.rewind();
      this.rewindPending = false;
    }
    this.stages?.enter('fetch');
    const prefetched = this.prefetched;
    this.prefetched = null;
    const batch = prefetched ? unwrap(await prefetched) : await consumer.poll();
    this.stages?.enter('prepare');
    this.updateLag(batch);
    const overlap = this.cfg.prefetch || this.cfg.pipelineFetch;
    if (overlap && !this.cfg.pipelineFetch && this.inFlight) {
      // prefetch: the transaction of the previous fetch ends before this one is transformed.
      this.stages?.enter('commit_wait');
      await this.settle();
      this.stages?.enter('prepare');
    } else if (this.commitFailure) await this.settle();
    if (batch.sets.length === 0 || this.stopping) return;
    const prepared = this.prepare(batch);
    if (!prepared) return;
    if (!overlap) {
      await this.commit(prepared);
      for (const o of prepared.offsets) consumer.seek(o.topic, o.partition, o.offset);
      return;
    }
    this.stages?.enter('commit_wait');
    await this.settle();
    for (const o of prepared.offsets) consumer.seek(o.topic, o.partition, o.offset);
    this.inFlight = this.commit(prepared).then(
      () => undefined,
      (err: unknown) => {
        this.commitFailure = err ?? new Error('commit failed');
      },
    );
    // The next Fetch goes out now, from the moved positions; not across a rejoin (the rejoin waits for the commit).
    if (!consumer.needsRejoin && !this.stopping) this.prefetched = wrap(consumer.poll());
  }

  /** Waits for a prefetched poll still in flight and drops its answer (before positions are reloaded). */
  private async dropPrefetched(): Promise<void> {
    const p = this.prefetched;
    this.prefetched = null;
    if (p) await p;
  }

  /** Waits for the commit in flight; throws its error if it failed. */
  private async settle(): Promise<void> {
    const p = this.inFlight;
    this.inFlight = null;
    if (p) await p;
    const err = this.commitFailure;
    this.commitFailure = null;
    if (err) throw err;
  }

  /** Transforms one fetch into the outputs and offsets of one transaction (null: nothing to commit). */
  private prepare(batch: FetchBatch): Prepared | null {
    this.stages?.enter('transform');
    const t0 = performance.now();
    const sets: FetchedRecordSet[] = batch.sets.map((s) => ({
      topic: s.topic,
      provider: PROVIDER_CODES[providerOfTopic(s.topic)],
      partition: s.partition,
      records: s.records,
      abortedTransactions: s.abortedTransactions,
      fetchOffset: s.fetchOffset,
    }));
    const out = this.core.transformRecordSets(sets, {
      normalizedAtMs: Date.now(),
      normalizedPartitions: this.normalizedPartitions,
      dlqPartitions: this.dlqPartitions,
      maxRecordBytes: this.cfg.maxRecordBytes,
      maxRecords: this.cfg.maxBatchMessages,
    });
    const t1 = performance.now();
    this.stages?.enter('prepare');
    this.metrics.normalizeSeconds.observe((t1 - t0) / 1000);

    const c = out.counters;
    // Every consumed record must have at least one output (a silent drop would break "exactly one place").
    if (c.normalized + c.dlq - c.batchReports < c.records)
      throw new Error(
        `core produced ${c.normalized + c.dlq} outputs for ${c.records} consumed records: refusing to commit`,
      );
    const offsets: { topic: string; partition: number; offset: bigint }[] = [];
    for (let i = 0; i < sets.length; i++) {
      const s = sets[i] as FetchedRecordSet;
      const next = out.nextOffsets[i] as bigint;
      if (next > s.fetchOffset) offsets.push({ topic: s.topic, partition: s.partition, offset: next });
      else if ((out.pendingBatchBytes[i] as number) > this.cfg.maxFetchBytesPerPartition)
        this.log.warn('a record batch is larger than the fetch limit per partition', {
          topic: s.topic,
          partition: s.partition,
          batch_bytes: out.pendingBatchBytes[i],
        });
    }
    if (offsets.length === 0) return null; // only a truncated tail: fetch again
    const batches: OutputBatch[] = [];
    for (const p of out.normalized) batches.push({ topic: this.cfg.normalizedTopic, ...p });
    for (const p of out.dlq) batches.push({ topic: this.cfg.dlqTopic, ...p });
    if (c.oversizeReplaced > 0)
      this.log.warn('oversize outputs replaced by RECORD_TOO_LARGE DLQ records', { count: c.oversizeReplaced });
    if (c.batchReports > 0) this.log.warn('unreadable record batches reported to the DLQ', { count: c.batchReports });
    return { member: batch.member, sets, out, offsets, batches };
  }

  /** One transaction (or, at_least_once, the acked batches then OffsetCommit), then the step's metrics. */
  private async commit(p: Prepared): Promise<void> {
    const { member, sets, out, offsets, batches } = p;
    const c = out.counters;
    const t1 = performance.now();
    try {
      await (this.producer as OutputProducer).send(batches, { ...member, partitions: offsets });
      if (this.cfg.mode === 'at_least_once') {
        this.stages?.enter('offset_commit');
        await (this.consumer as GroupConsumer).commitOffsets(member, byTopic(offsets));
      }
    } catch (err) {
      this.metrics.transactions.inc({ result: 'failed' });
      throw err;
    }
    this.stages?.enter('after_commit');
    const t2 = performance.now();
    this.metrics.commitSeconds.observe((t2 - t1) / 1000);
    this.metrics.transactions.inc({ result: 'committed' });
    this.metrics.chunks.inc({ result: 'committed' });
    for (let i = 0; i < sets.length; i++) {
      const n = out.consumed[i] as number;
      if (n > 0) this.metrics.inputs.inc({ topic: (sets[i] as FetchedRecordSet).topic }, n);
    }
    this.metrics.outputs.inc({ kind: 'normalized' }, c.normalized);
    this.metrics.outputs.inc({ kind: 'dlq' }, c.dlq);
    const now = Date.now();
    const received = out.receivedAtMs;
    for (let i = 0; i < received.length; i++) {
      const r = received[i] as number;
      if (!Number.isNaN(r)) this.metrics.endToEndSeconds.observe(Math.max(0, now - r) / 1000);
    }
    this.log.debug('fetch committed', {
      partitions: offsets.length,
      records: c.records,
      normalized: c.normalized,
      dlq: c.dlq,
      generation: member.generationId,
    });
  }

  private updateLag(batch: FetchBatch): void {
    const consumer = this.consumer as GroupConsumer;
    for (const w of batch.watermarks) {
      const pos = consumer.position(w.topic, w.partition);
      if (pos === undefined) continue;
      const end = this.cfg.mode === 'exactly_once' ? w.lastStableOffset : w.highWatermark;
      this.metrics.lag.set({ topic: w.topic, partition: String(w.partition) }, Math.max(0, Number(end - pos)));
    }
  }

  /** Finishes (commits or aborts) the step in hand, leaves the group, closes the producer and connections. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop?.catch(() => undefined);
    this.loop = null;
    // The transaction in flight commits (or fails and is aborted) before the member leaves.
    await this.settle().catch((err: unknown) => this.log.warn('last transaction failed on stop', { err }));
    await this.dropPrefetched();
    await this.consumer?.close();
    this.consumer = null;
    await this.producer?.close().catch((err: unknown) => this.log.warn('producer close failed', { err }));
    this.producer = null;
    this.cluster?.close();
    this.cluster = null;
    this.log.info('transformer stopped');
  }
}

/** One fetch, transformed: what its transaction carries. */
interface Prepared {
  readonly member: MemberGeneration;
  readonly sets: readonly FetchedRecordSet[];
  readonly out: TransformedFetch;
  readonly offsets: readonly { topic: string; partition: number; offset: bigint }[];
  readonly batches: readonly OutputBatch[];
}

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** A promise that never rejects (a prefetched poll may fail while nobody awaits it yet). */
const wrap = <T>(p: Promise<T>): Promise<Settled<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

const unwrap = <T>(s: Settled<T>): T => {
  if (!s.ok) throw s.error;
  return s.value;
};

function byTopic(offsets: readonly { topic: string; partition: number; offset: bigint }[]) {
  const m = new Map<string, { partition: number; offset: bigint }[]>();
  for (const o of offsets) m.set(o.topic, [...(m.get(o.topic) ?? []), { partition: o.partition, offset: o.offset }]);
  return [...m].map(([topic, partitions]) => ({ topic, partitions }));
}

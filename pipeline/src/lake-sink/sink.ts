/**
 * Lake sink: Kafka → Iceberg bronze tables, exactly once. Reads the raw topics and webhooks.dlq
 * (bronze.webhook_events), payments.normalized (bronze.payment_events) and payments.validation.dlq
 * (bronze.validation_dlq) with kafkajs, buffers each table's rows in Arrow column builders (@pep/lakehouse; for
 * payment_events by default in the lake addon, from each batch's raw values: LAKE_SINK_ROWS, raw-rows.ts) and,
 * every LAKE_SINK_COMMIT_INTERVAL_MS or LAKE_SINK_COMMIT_BYTES, commits them with the Rust writer (Parquet zstd
 * files, then a fast append). The rows go to the writer as Arrow IPC bytes in chunks of LAKE_SINK_CHUNK_BYTES while
 * the buffer fills (an open write per table, encoded on the addon's threads), so a commit only finishes the files.
 *
 * Exactly once: each commit carries, in the snapshot summary, the next offset of every partition it covers and says
 * where its records start; the writer lands it only if the table is at exactly those offsets (see the pep-lake crate's
 * commit module). Positions come from the table on start, after every rebalance and after every conflict; the
 * consumer group's offsets are committed after the table commit for monitoring (lag) only and are never read back.
 * A crash anywhere loses nothing that is committed and commits nothing twice: files written and not committed are
 * orphans (`npm run lake -- orphans` removes them); a table commit whose group commit did not follow is simply
 * where the next start resumes.
 *
 * Flushes run one after another per process: a failed write or commit is retried with backoff with the same records
 * and the same commit id (a commit whose answer was lost is recognised), consumption pauses while the buffered bytes
 * exceed LAKE_SINK_MAX_BUFFERED_BYTES. Not the PostgreSQL outcomes loader (outcomes.ts).
 */
import { randomUUID } from 'node:crypto';
import { LAKE_SUMMARY_KEYS, type LakeTable, type LakeTableName, lakeTableForTopic } from '@pep/contracts';
import type { Logger } from '@pep/contracts/log';
import { Registry } from '@pep/contracts/metrics';
import { TableBatchBuilder } from '@pep/lakehouse/arrow';
import { RAW_ROW_HEADERS, RawBatch, RawRowsBuilder, rawRowsUnavailable } from '@pep/lakehouse/raw-rows';
import { type KafkaRecord, type RowSteps, rowStepsFor } from '@pep/lakehouse/rows';
import { type CommitClaim, LakeError, LakeWriter, type WriteResult } from '@pep/lakehouse/writer';
import type { Admin, Batch, Consumer, EachBatchPayload, IHeaders, KafkaMessage } from 'kafkajs';
import { createKafka, startLagPoller } from '../lib/kafka.ts';
import type { LakeSinkConfig } from './config.ts';
import { SinkProfile } from './profile.ts';

const CURSOR_KEY = LAKE_SUMMARY_KEYS.kafkaOffsets;
/** Period of the commit-interval check (a commit is at most this late). */
const TICK_MS = 100;

export class LakeSinkMetrics {
  readonly registry = new Registry();
  readonly records = this.registry.counter('lake_sink_records_total', 'Kafka records buffered, by table');
  readonly rows = this.registry.counter('lake_sink_rows_committed_total', 'Rows committed to the lake, by table');
  readonly commits = this.registry.counter('lake_sink_commits_total', 'Table commits, by table and result');
  readonly bytes = this.registry.counter('lake_sink_file_bytes_total', 'Parquet bytes committed, by table');
  readonly lakeErrors = this.registry.counter('lake_sink_typed_row_errors_total', 'Records stored with lake_error');
  readonly freshness = this.registry.histogram(
    'lake_sink_freshness_seconds',
    'Age of the oldest record of a commit when the commit became visible (record timestamp to commit)',
    [0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300],
  );
  readonly flushSeconds = this.registry.histogram(
    'lake_sink_flush_seconds',
    'Arrow IPC + Parquet write + commit, per table flush',
    [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  readonly buffered = this.registry.gauge('lake_sink_buffered_bytes', 'Arrow bytes buffered, by table');
  readonly lastCommit = this.registry.gauge('lake_sink_last_commit_unixtime', 'When a table was last committed');
  readonly lag = this.registry.gauge('pipeline_consumer_lag', 'Log-end offset minus committed offset, per partition');
}

/** `topic:partition`, the cursor name in the snapshot summary. */
export const cursorOf = (topic: string, partition: number) => `${topic}:${partition}`;

interface TableState {
  readonly table: LakeTable;
  readonly steps: RowSteps;
  /** lake_sink_records_total's series of this table (counted per record without a label lookup). */
  readonly recordsTotal: { value: number };
  /** TableBatchBuilder (rows.ts + arrow.ts) or, for payment_events with LAKE_SINK_ROWS=rust, the raw-bytes path. */
  builder: TableBatchBuilder | RawRowsBuilder;
  /** Committed cursors as the table holds them (null: none yet). */
  committed: Map<string, bigint | null>;
  /** Where the next buffered record of each partition must start (the end of everything buffered or in flight). */
  position: Map<string, bigint | null>;
  /** Range of the records buffered (builder and chunks): cursor → [expected start, next]. */
  range: Map<string, [bigint | null, bigint]>;
  oldestMs: number;
  firstBufferedAt: number;
  /** Rows taken out of the builder already (LAKE_SINK_CHUNK_BYTES at a time), in order, not yet queued for commit. */
  chunks: Chunk[];
  chunkRows: number;
  chunkBytes: number;
  /** The Rust write those chunks are being encoded into (opened with the first chunk). */
  stream: OpenStream | null;
}

/** Arrow IPC bytes of a run of rows: a promise on the raw-bytes path (the stream is written off the JS thread). */
type Chunk = Uint8Array | Promise<Uint8Array>;

/** An open write of the lake addon (LakeWriter.openWrite) that chunks are handed to as they are taken. */
interface OpenStream {
  readonly id: Promise<number>;
  /** Settles once every chunk handed over so far is encoded; rejects when the open or a chunk failed. */
  written: Promise<void>;
  /** How many of the buffer's chunks were handed over. */
  handed: number;
}

interface Flush {
  readonly state: TableState;
  /** The rows of the flush, in order (a retry writes them all again). */
  readonly chunks: Chunk[];
  /** The open write the first `handed` chunks went to while the buffer filled (null: none, or after a failure). */
  stream: OpenStream | null;
  /** The IPC bytes (an estimate while they are being written). */
  readonly bytes: number;
  readonly rows: number;
  readonly claim: CommitClaim;
  readonly oldestMs: number;
  readonly epoch: number;
  handle: number | null;
}

const [H_SOURCE_TOPIC, H_SOURCE_PARTITION, H_SOURCE_OFFSET, H_RECEIVED_AT] = RAW_ROW_HEADERS;

/** A header's first value (kafkajs gives repeated headers as an array), as headerText reads it. */
function firstHeader(h: IHeaders | undefined, name: string): Buffer | string | undefined {
  const v = h?.[name];
  return Array.isArray(v) ? v[0] : v;
}

function kafkaRecordOf(batch: Batch, m: KafkaMessage): KafkaRecord {
  return {
    topic: batch.topic,
    partition: batch.partition,
    offset: BigInt(m.offset),
    timestampMs: Number(m.timestamp),
    key: m.key,
    value: m.value,
    headers: headerText(m.headers),
  };
}

function headerText(h: IHeaders | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (!h) return out;
  for (const k in h) {
    const v = h[k];
    const one = Array.isArray(v) ? v[0] : v;
    if (one === undefined) continue;
    out[k] = typeof one === 'string' ? one : one.toString('utf8');
  }
  return out;
}

export class LakeSink {
  readonly metrics = new LakeSinkMetrics();
  private lakeWriter: LakeWriter | null = null;
  private consumer: Consumer | null = null;
  private admin: Admin | null = null;
  private stopLag: (() => void) | null = null;
  private readonly states = new Map<string, TableState>();
  private readonly byTopic = new Map<string, TableState>();
  private queue: Flush[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Bumped whenever positions are reset (rebalance, conflict): flushes of an older epoch are dropped. */
  private epoch = 0;
  private paused = false;
  /** Between `consumer.run` and `stop`: seeks are possible (kafkajs throws on a seek once the consumer stopped). */
  private consuming = false;
  /** Resets in progress: batches fetched meanwhile are dropped (the seek that ends the reset fetches them again). */
  private resetting = 0;
  private stopped = false;
  private writes = 0;
  private commitsDone = 0;
  private assigned: { topic: string; partitions: number[] }[] = [];
  /** Per-stage times (see profile.ts), when asked for. */
  readonly profile: SinkProfile | null;

  constructor(
    private readonly cfg: LakeSinkConfig,
    private readonly log: Logger,
    private readonly onFatal: (err: Error) => void = () => undefined,
    /** The same tables under other names (benchmarks and tests write to private namespaces). */
    private readonly tableOverrides: Partial<Record<LakeTableName, LakeTable>> = {},
    options: { profile?: boolean } = {},
  ) {
    this.profile = options.profile ? new SinkProfile() : null;
  }

  async start(): Promise<void> {
    this.lakeWriter = await LakeWriter.open(this.cfg.lake);
    for (const topic of this.cfg.topics) {
      const contract = lakeTableForTopic(topic);
      if (!contract) throw new Error(`LAKE_SINK_TOPICS: no lake table takes topic ${topic}`);
      const table = this.tableOverrides[contract.name] ?? contract;
      let state = this.states.get(table.name);
      if (!state) {
        const info = await this.lakeWriter.ensureTable(table, CURSOR_KEY);
        if (info.addedColumns.length > 0) {
          this.log.info('table evolved', { table: table.qualifiedName, added: info.addedColumns });
        }
        state = {
          table,
          steps: rowStepsFor(table),
          recordsTotal: this.metrics.records.series({ table: table.name }),
          builder: this.newBuilder(table),
          committed: new Map(),
          position: new Map(),
          range: new Map(),
          oldestMs: Number.POSITIVE_INFINITY,
          firstBufferedAt: 0,
          chunks: [],
          chunkRows: 0,
          chunkBytes: 0,
          stream: null,
        };
        this.setCursors(state, info.cursors);
        this.states.set(table.name, state);
      }
      this.byTopic.set(topic, state);
    }
    const kafka = createKafka({ brokers: this.cfg.kafkaBrokers, clientId: this.cfg.clientId, log: this.log });
    this.admin = kafka.admin();
    await this.admin.connect();
    const consumer = kafka.consumer({
      groupId: this.cfg.groupId,
      sessionTimeout: this.cfg.sessionTimeoutMs,
      maxBytesPerPartition: this.cfg.maxFetchBytesPerPartition,
      maxBytes: this.cfg.maxFetchBytes,
      // kafkajs sleeps this long whenever every partition is paused (each rebalance and position reset pauses them
      // all): at its 5 s default the first records after a start waited 5 s (freshness p99 in the bench).
      maxWaitTimeInMs: this.cfg.fetchMaxWaitMs,
      // Only committed transactions: an aborted transformer write must not become a lake row.
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assignment = e.payload.memberAssignment as Record<string, number[]>;
      this.assigned = Object.entries(assignment).map(([topic, partitions]) => ({ topic, partitions }));
      this.log.info('partitions assigned', { assignment });
      // Positions come from the table, never from the group: pause, reload, seek, resume.
      const all = this.cfg.topics.map((topic) => ({ topic }));
      consumer.pause(all);
      void this.resetPositions('rebalance')
        .then(() => {
          if (!this.paused) consumer.resume(all);
        })
        .catch((err) => this.fatal(err as Error));
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.log.error('consumer crashed', { err: e.payload.error, restart: e.payload.restart });
      if (!e.payload.restart) this.fatal(e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.cfg.topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (p) => this.handleBatch(p),
    });
    this.consuming = true;
    this.stopLag = startLagPoller({
      admin: this.admin,
      groupId: this.cfg.groupId,
      topics: [...this.cfg.topics],
      gauge: this.metrics.lag,
      intervalMs: 5000,
      log: this.log,
    });
    // The tick decides when a table's buffer is due (commitIntervalMs after its first record): its period is how late
    // a commit can be beyond the interval, which freshness pays in full at p99 (a 1 s tick was up to 1 s late).
    this.timer = setInterval(() => this.tick(), Math.min(TICK_MS, this.cfg.commitIntervalMs));
    this.timer.unref();
    this.log.info('lake sink started', {
      group: this.cfg.groupId,
      writer: this.cfg.writerId,
      warehouse: this.cfg.lake.warehouse,
      tables: [...this.states.keys()],
    });
  }

  /** The raw-bytes path for the table when configured and available (only payment_events has one), else rows.ts. */
  private newBuilder(table: LakeTable): TableBatchBuilder | RawRowsBuilder {
    if (this.cfg.rows === 'rust') {
      const raw = RawRowsBuilder.create(table);
      if (raw) return raw;
      if (rawRowsUnavailable) {
        this.log.warn('raw-bytes rows unavailable, rows.ts builds them', {
          table: table.name,
          err: rawRowsUnavailable,
        });
      }
    }
    return new TableBatchBuilder(table);
  }

  /** The writer (for the outcomes loader that runs in the same process). */
  writer(): LakeWriter {
    if (!this.lakeWriter) throw new Error('lake sink is not started');
    return this.lakeWriter;
  }

  private fatal(err: Error): void {
    if (this.stopped) return;
    this.log.error('lake sink stopped for good', { err });
    this.onFatal(err);
  }

  private setCursors(state: TableState, cursors: Record<string, string>): void {
    state.committed.clear();
    state.position.clear();
    for (const [k, v] of Object.entries(cursors)) {
      state.committed.set(k, BigInt(v));
      state.position.set(k, BigInt(v));
    }
  }

  /** Drops everything buffered or queued, reloads every table's cursors and seeks the owned partitions to them. */
  private async resetPositions(why: string): Promise<void> {
    this.resetting++;
    try {
      await this.resetPositionsNow(why);
    } finally {
      this.resetting--;
    }
  }

  private async resetPositionsNow(why: string): Promise<void> {
    const epoch = ++this.epoch;
    for (const f of this.queue) this.dropStream(f.stream);
    this.queue = [];
    const writer = this.lakeWriter;
    if (!writer) return;
    for (const state of this.states.values()) {
      state.builder = this.newBuilder(state.table);
      this.dropStream(state.stream);
      state.stream = null;
      state.chunks = [];
      state.chunkRows = 0;
      state.chunkBytes = 0;
      state.range.clear();
      state.oldestMs = Number.POSITIVE_INFINITY;
      const info = await writer.tableInfo(state.table.qualifiedName, CURSOR_KEY);
      if (epoch !== this.epoch) return;
      this.setCursors(state, info.cursors);
    }
    // Stopping: the last flush met a conflict. What it held is dropped; the table's cursors are where the next start
    // resumes, and nothing is fetched any more, so there is nothing to seek (a seek would throw).
    if (!this.consuming) {
      this.log.info('positions reloaded from the tables while stopping, nothing to seek', { why, epoch });
      return;
    }
    for (const { topic, partitions } of this.assigned) {
      const state = this.byTopic.get(topic);
      if (!state) continue;
      // A partition the table has no cursor for starts at the log start (never at the group's offset).
      const low = new Map((await this.admin?.fetchTopicOffsets(topic))?.map((o) => [o.partition, o.low]) ?? []);
      if (epoch !== this.epoch) return;
      for (const partition of partitions) {
        const at = state.position.get(cursorOf(topic, partition));
        const offset = at !== undefined && at !== null ? at.toString() : low.get(partition);
        if (offset !== undefined) this.consumer?.seek({ topic, partition, offset });
      }
    }
    this.updateBufferedGauges();
    this.log.info('positions reset from the tables', { why, epoch });
  }

  private async handleBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    const state = this.byTopic.get(batch.topic);
    if (!state) throw new Error(`no lake table for topic ${batch.topic}`);
    const cursor = cursorOf(batch.topic, batch.partition);
    const epoch = this.epoch;
    if (this.resetting > 0) return;
    const prof = this.profile;
    prof?.batchStart();
    try {
      if (state.builder instanceof RawRowsBuilder) await this.handleRaw(p, state, state.builder, cursor, epoch, prof);
      else await this.handleMessages(p, state, state.builder, cursor, epoch, prof);
    } finally {
      prof?.batchEnd();
    }
  }

  /**
   * The raw-bytes path (lakehouse/src/raw-rows.ts): the batch's records from the table's position on are packed into
   * one buffer and become rows in one call to the lake addon. The same bookkeeping as handleMessages, per batch.
   */
  private async handleRaw(
    p: EachBatchPayload,
    state: TableState,
    builder: RawRowsBuilder,
    cursor: string,
    epoch: number,
    prof: SinkProfile | null,
  ): Promise<void> {
    const { batch } = p;
    // Nothing below awaits, so these cannot change within the batch (handleMessages checks them per record).
    if (!p.isRunning() || p.isStale() || epoch !== this.epoch) return;
    let w0 = prof ? prof.now() : 0;
    const at = state.position.get(cursor);
    // Below the table's cursor (or what is already buffered): committed or queued already.
    let next: bigint | null = at ?? null;
    const raw = new RawBatch();
    const taken: KafkaMessage[] = [];
    let oldest = state.oldestMs;
    let last: string | undefined;
    for (const m of batch.messages) {
      last = m.offset;
      const offset = BigInt(m.offset);
      if (next !== null && offset < next) continue;
      next = offset + 1n;
      const h = m.headers;
      const ts = Number(m.timestamp);
      raw.add(
        m.value,
        firstHeader(h, H_SOURCE_TOPIC),
        firstHeader(h, H_SOURCE_PARTITION),
        firstHeader(h, H_SOURCE_OFFSET),
        firstHeader(h, H_RECEIVED_AT),
        Number(offset),
        ts,
      );
      taken.push(m);
      if (ts < oldest) oldest = ts;
    }
    if (taken.length > 0 && next !== null) {
      const wasEmpty = this.rowsOf(state) === 0;
      let w1 = 0;
      if (prof) {
        w1 = prof.now();
        prof.addWall('decode', w1 - w0);
      }
      const fallback = builder.append(batch.topic, batch.partition, raw, (i) =>
        kafkaRecordOf(batch, taken[i] as KafkaMessage),
      );
      if (prof) {
        w0 = prof.now();
        prof.addWall('raw', w0 - w1);
        prof.records += taken.length;
      }
      for (const row of fallback) if (row.lake_error) this.metrics.lakeErrors.inc({ table: state.table.name });
      const range = state.range.get(cursor);
      if (range) range[1] = next;
      else state.range.set(cursor, [at ?? null, next]);
      state.position.set(cursor, next);
      if (wasEmpty) state.firstBufferedAt = Date.now();
      state.oldestMs = oldest;
      state.recordsTotal.value += taken.length;
    }
    if (last !== undefined) p.resolveOffset(last);
    await p.heartbeat();
    this.afterBatch(state);
  }

  private async handleMessages(
    p: EachBatchPayload,
    state: TableState,
    builder: TableBatchBuilder,
    cursor: string,
    epoch: number,
    prof: SinkProfile | null,
  ): Promise<void> {
    const { batch } = p;
    let last: string | undefined;
    // Profiling: `decode` runs from the end of the previous record's `arrow` (so it holds the cursor bookkeeping too).
    let w0 = prof ? prof.now() : 0;
    for (const m of batch.messages) {
      if (!p.isRunning() || p.isStale() || epoch !== this.epoch) return;
      const offset = BigInt(m.offset);
      last = m.offset;
      const at = state.position.get(cursor);
      // Below the table's cursor (or what is already buffered): committed or queued already.
      if (at !== undefined && at !== null && offset < at) continue;
      const record: KafkaRecord = {
        topic: batch.topic,
        partition: batch.partition,
        offset,
        timestampMs: Number(m.timestamp),
        key: m.key,
        value: m.value,
        headers: headerText(m.headers),
      };
      let row: ReturnType<RowSteps['row']>;
      if (prof) {
        let w1 = prof.now();
        prof.addWall('decode', w1 - w0);
        const parsed = state.steps.parse(record);
        w0 = prof.now();
        prof.addWall('parse', w0 - w1);
        row = state.steps.row(record, parsed);
        w1 = prof.now();
        prof.addWall('row', w1 - w0);
        builder.append(row);
        w0 = prof.now();
        prof.addWall('arrow', w0 - w1);
        prof.records++;
      } else {
        row = state.steps.row(record, state.steps.parse(record));
        builder.append(row);
      }
      if (row.lake_error) this.metrics.lakeErrors.inc({ table: state.table.name });
      const next = offset + 1n;
      const range = state.range.get(cursor);
      if (range) range[1] = next;
      else state.range.set(cursor, [at ?? null, next]);
      state.position.set(cursor, next);
      if (builder.rows === 1 && state.chunkRows === 0) state.firstBufferedAt = Date.now();
      if (record.timestampMs < state.oldestMs) state.oldestMs = record.timestampMs;
      state.recordsTotal.value++;
    }
    if (last !== undefined) p.resolveOffset(last);
    await p.heartbeat();
    this.afterBatch(state);
  }

  /** A chunk to the writer when the builder holds one, the buffer to a commit when it is full, then backpressure. */
  private afterBatch(state: TableState): void {
    if (this.cfg.chunkBytes > 0 && state.builder.bytes() >= this.cfg.chunkBytes) this.spill(state);
    if (this.bytesOf(state) >= this.cfg.commitBytes) this.enqueue(state);
    this.applyBackpressure();
  }

  /** Rows buffered for the table's next commit: in the builder and in chunks taken out of it. */
  private rowsOf(state: TableState): number {
    return state.builder.rows + state.chunkRows;
  }

  private bytesOf(state: TableState): number {
    return state.builder.bytes() + state.chunkBytes;
  }

  /** The builder's rows as Arrow IPC bytes; the builder starts empty again. */
  private takeChunk(state: TableState): Chunk {
    const prof = this.profile;
    const w0 = prof?.now() ?? 0;
    const c0 = prof?.cpuUs() ?? 0;
    let ipc: Chunk;
    if (state.builder instanceof RawRowsBuilder) {
      ipc = state.builder.finishIpcAsync();
      // Awaited by the write; a failure is a failed flush there, never an unhandled rejection meanwhile.
      ipc.catch(() => undefined);
    } else ipc = state.builder.finishIpc();
    if (prof) prof.add('ipc', prof.now() - w0, prof.cpuUs() - c0);
    return ipc;
  }

  /**
   * Takes the builder's rows out as a chunk and hands it to the table's open write (opened now if needed), where the
   * lake addon encodes it into Parquet on its own threads while the sink goes on fetching. The chunk stays in the
   * buffer's list until the commit: a failed write is redone from the chunks.
   */
  private spill(state: TableState): void {
    const writer = this.lakeWriter;
    if (!writer || state.builder.rows === 0) return;
    const rows = state.builder.rows;
    const bytes = state.builder.bytes();
    const ipc = this.takeChunk(state);
    state.chunks.push(ipc);
    state.chunkRows += rows;
    state.chunkBytes += bytes;
    let stream = state.stream;
    if (!stream) {
      const id = writer.openWrite(state.table.qualifiedName, this.cfg.writerId);
      stream = { id, written: id.then(() => undefined), handed: 0 };
      state.stream = stream;
    }
    this.hand(writer, stream, ipc);
  }

  private hand(writer: LakeWriter, stream: OpenStream, ipc: Chunk): void {
    stream.written = stream.written.then(async () => {
      await writer.writeChunk(await stream.id, await ipc);
    });
    // Awaited by the flush; meanwhile a failure must not be an unhandled rejection.
    stream.written.catch(() => undefined);
    stream.handed++;
  }

  /** Drops an open write that will never be committed (its files are deleted once its chunks settle). */
  private dropStream(stream: OpenStream | null): void {
    const writer = this.lakeWriter;
    if (!stream || !writer) return;
    void stream.written
      .catch(() => undefined)
      .then(() => stream.id)
      .then((id) => writer.abortWrite(id))
      .catch(() => undefined);
  }

  private tick(): void {
    const now = Date.now();
    for (const state of this.states.values()) {
      if (this.rowsOf(state) > 0 && now - state.firstBufferedAt >= this.cfg.commitIntervalMs) this.enqueue(state);
    }
    this.updateBufferedGauges();
  }

  private updateBufferedGauges(): void {
    for (const s of this.states.values()) this.metrics.buffered.set({ table: s.table.name }, this.bytesOf(s));
  }

  private bufferedBytes(): number {
    let n = 0;
    for (const s of this.states.values()) n += this.bytesOf(s);
    for (const f of this.queue) n += f.bytes;
    return n;
  }

  private applyBackpressure(): void {
    const over = this.bufferedBytes() >= this.cfg.maxBufferedBytes;
    if (over && !this.paused && this.consumer) {
      this.paused = true;
      this.consumer.pause(this.cfg.topics.map((topic) => ({ topic })));
      this.log.warn('buffer full, consumption paused', { bytes: this.bufferedBytes() });
    } else if (!over && this.paused && this.consumer) {
      this.paused = false;
      this.consumer.resume(this.cfg.topics.map((topic) => ({ topic })));
      this.log.info('consumption resumed');
    }
  }

  /** Cuts the table's buffer into a flush (claim fixed now) and starts the flush loop. */
  private enqueue(state: TableState): void {
    const rows = this.rowsOf(state);
    if (rows === 0) return;
    const estimate = this.bytesOf(state);
    const chunks = state.chunks;
    if (state.builder.rows > 0) chunks.push(this.takeChunk(state));
    const stream = state.stream;
    state.chunks = [];
    state.chunkRows = 0;
    state.chunkBytes = 0;
    state.stream = null;
    const only = chunks.length === 1 ? chunks[0] : undefined;
    const expected: Record<string, string | null> = {};
    const next: Record<string, string> = {};
    for (const [c, [start, end]] of state.range) {
      expected[c] = start === null ? null : start.toString();
      next[c] = end.toString();
    }
    state.range.clear();
    const flush: Flush = {
      state,
      chunks,
      stream,
      bytes: only instanceof Uint8Array ? only.byteLength : estimate,
      rows,
      oldestMs: state.oldestMs,
      epoch: this.epoch,
      handle: null,
      claim: {
        cursorKey: CURSOR_KEY,
        expected,
        next,
        writer: this.cfg.writerId,
        commitId: randomUUID(),
        summary: { 'pep.rows': String(rows) },
      },
    };
    state.oldestMs = Number.POSITIVE_INFINITY;
    this.queue.push(flush);
    this.updateBufferedGauges();
    if (!this.flushing) this.flushing = this.runFlushes().finally(() => (this.flushing = null));
  }

  private async runFlushes(): Promise<void> {
    let failures = 0;
    while (this.queue.length > 0) {
      const f = this.queue[0] as Flush;
      if (f.epoch !== this.epoch) {
        this.queue.shift();
        continue;
      }
      try {
        await this.flushOne(f);
        this.queue.shift();
        failures = 0;
      } catch (err) {
        const e = err instanceof LakeError ? err : null;
        if (e?.code === 'COMMIT_CONFLICT' || e?.code === 'SCHEMA_MISMATCH') {
          // Conflict: another writer has these records; SCHEMA_MISMATCH: the table changed under us. Either way the
          // table is the truth: drop what we hold and read the positions again.
          this.metrics.commits.inc({ table: f.state.table.name, result: e.code.toLowerCase() });
          this.log.warn('commit refused, positions reset from the table', {
            table: f.state.table.qualifiedName,
            code: e.code,
            err: e.message,
          });
          if (f.handle !== null) await this.lakeWriter?.abort(f.handle).catch(() => 0);
          await this.resetPositions(e.code.toLowerCase());
          continue;
        }
        failures++;
        this.metrics.commits.inc({ table: f.state.table.name, result: 'error' });
        const delay = Math.min(this.cfg.retryBackoffMaxMs, 100 * 2 ** Math.min(failures, 10));
        this.log.error('lake flush failed, retrying', {
          table: f.state.table.qualifiedName,
          code: e?.code,
          err,
          attempt: failures,
          retry_in_ms: delay,
        });
        if (this.stopped && failures >= 3) return;
        await new Promise((r) => setTimeout(r, delay));
      }
      this.applyBackpressure();
    }
  }

  private async flushOne(f: Flush): Promise<void> {
    const writer = this.lakeWriter;
    if (!writer) throw new Error('lake sink is not started');
    const started = performance.now();
    const table = f.state.table;
    const prof = this.profile;
    if (f.handle === null) {
      const w0 = performance.now();
      const w = await this.writeFlush(writer, f);
      if (prof) {
        prof.add('write', performance.now() - w0, 0);
        prof.writes++;
      }
      f.handle = w.handle;
      this.writes++;
      this.metrics.bytes.inc({ table: table.name }, w.fileBytes);
      this.crashIfAsked('write', this.writes);
    }
    const c0 = performance.now();
    const res = await writer.commit(f.handle, f.claim);
    if (prof) {
      prof.add('commit', performance.now() - c0, 0);
      prof.commits++;
    }
    this.commitsDone++;
    for (const [c, v] of Object.entries(f.claim.next)) f.state.committed.set(c, BigInt(v));
    this.metrics.rows.inc({ table: table.name }, f.rows);
    this.metrics.commits.inc({ table: table.name, result: res.alreadyCommitted ? 'recovered' : 'ok' });
    const now = Date.now();
    this.metrics.lastCommit.set({ table: table.name }, now / 1000);
    if (Number.isFinite(f.oldestMs)) this.metrics.freshness.observe(Math.max(0, now - f.oldestMs) / 1000);
    this.metrics.flushSeconds.observe((performance.now() - started) / 1000);
    this.log.debug('committed', { table: table.qualifiedName, rows: f.rows, snapshot: res.snapshotId });
    this.crashIfAsked('commit', this.commitsDone);
    const g0 = performance.now();
    await this.commitGroupOffsets(f.claim.next);
    prof?.add('group_commit', performance.now() - g0, 0);
  }

  /**
   * The flush's rows as Parquet files, pending commit: the chunks not handed to its open write yet go there and the
   * write is closed; without an open write (none was needed, or a retry) a single chunk is one `write` call and more
   * go through a new open write. A failure drops the open write (its files are deleted) and the retry starts over.
   */
  private async writeFlush(writer: LakeWriter, f: Flush): Promise<WriteResult> {
    const table = f.state.table.qualifiedName;
    const stream = f.stream;
    f.stream = null;
    if (!stream && f.chunks.length === 1) return writer.write(table, await (f.chunks[0] as Chunk), this.cfg.writerId);
    let id: number | null = null;
    try {
      let written: Promise<void> = Promise.resolve();
      let handed = 0;
      if (stream) {
        id = await stream.id;
        written = stream.written;
        handed = stream.handed;
      } else id = await writer.openWrite(table, this.cfg.writerId);
      const open = id;
      for (const c of f.chunks.slice(handed)) {
        written = written.then(async () => {
          await writer.writeChunk(open, await c);
        });
      }
      await written;
      const out = await writer.closeWrite(open);
      id = null;
      return out;
    } catch (err) {
      if (id !== null) await writer.abortWrite(id).catch(() => 0);
      throw err;
    }
  }

  /** Monitoring only (lag): the table, not the group, is where a restart resumes. */
  private async commitGroupOffsets(next: Record<string, string>): Promise<void> {
    const offsets = Object.entries(next).map(([c, offset]) => {
      const i = c.lastIndexOf(':');
      return { topic: c.slice(0, i), partition: Number(c.slice(i + 1)), offset };
    });
    try {
      await this.consumer?.commitOffsets(offsets);
    } catch (err) {
      this.log.warn('group offset commit failed (lag metrics only)', { err });
    }
  }

  private crashIfAsked(step: 'write' | 'commit', n: number): void {
    const c = this.cfg.crashAt;
    if (c && c.step === step && c.n === n) {
      this.log.warn('LAKE_SINK_CRASH_AT reached, SIGKILL', { step, n });
      process.kill(process.pid, 'SIGKILL');
    }
  }

  /** Flushes every buffer (when the tables accept it), commits, leaves the group. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopLag?.();
    // Stop fetching first so that the buffers stop growing, then commit what is held.
    this.consuming = false;
    await this.consumer?.stop().catch(() => undefined);
    for (const s of this.states.values()) this.enqueue(s);
    await this.flushing;
    this.stopped = true;
    await this.consumer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.consumer = null;
    this.admin = null;
    this.log.info('lake sink stopped');
  }

  /** For tests and the bench: resolves once nothing is buffered or in flight. */
  async drain(): Promise<void> {
    for (const s of this.states.values()) this.enqueue(s);
    while (this.flushing) await this.flushing;
  }
}

/**
 * Quarantine consumer: reads `webhooks.dlq` (edge rejections) and `payments.validation.dlq` (transformer
 * rejections) and stores every record in PostgreSQL (webhook_quarantine / validation_quarantine), idempotent on
 * the record's (topic, partition, offset). Offsets are resolved, and so committed, only after the rows are written;
 * a crash replays at most the uncommitted tail, which the unique key absorbs. Any byte string is stored (see rows.ts);
 * a row PostgreSQL refuses in parsed form is stored raw-only, so no record can stop a partition.
 * Not the review workflow: deciding what to do with a quarantined record belongs to workflows/.
 */

import type { Logger } from '@pep/contracts/log';
import { Registry } from '@pep/contracts/metrics';
import type { Admin, Consumer, EachBatchPayload } from 'kafkajs';
import pg from 'pg';
import type { QuarantineConfig } from '../lib/config.ts';
import { createKafka, startLagPoller } from '../lib/kafka.ts';
import { type DlqMessage, insertStatement, type QuarantineTable, type Row, rawOnlyRow, toRow } from './rows.ts';

export class QuarantineMetrics {
  readonly registry = new Registry();
  readonly rows = this.registry.counter(
    'quarantine_rows_total',
    'DLQ records written, by table and result (inserted, duplicate)',
  );
  readonly parseErrors = this.registry.counter(
    'quarantine_parse_errors_total',
    'Records stored without a parsed record, by table',
  );
  readonly rawOnly = this.registry.counter(
    'quarantine_raw_only_total',
    'Records PostgreSQL refused in parsed form and that were stored raw-only',
  );
  readonly writeFailures = this.registry.counter(
    'quarantine_write_failures_total',
    'Failed batch writes (the batch is retried, offsets not committed)',
  );
  readonly batchSeconds = this.registry.histogram(
    'quarantine_batch_seconds',
    'Time to write one batch of rows',
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  readonly lag = this.registry.gauge('pipeline_consumer_lag', 'Log-end offset minus committed offset, per partition');
}

// PostgreSQL error classes that mean "this data", not "this connection": 22 data exception, 23 integrity, 54 limits.
const DATA_ERROR = /^(22|23|54)/;

export class QuarantineConsumer {
  readonly metrics = new QuarantineMetrics();
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private consumer: Consumer | null = null;
  private admin: Admin | null = null;
  private stopLag: (() => void) | null = null;
  private readonly tableOf: ReadonlyMap<string, QuarantineTable>;

  constructor(
    private readonly cfg: QuarantineConfig,
    private readonly log: Logger,
    pool?: pg.Pool,
    /** Called when the consumer stopped for good (kafkajs will not restart it); main.ts exits the process. */
    private readonly onFatal: (err: Error) => void = () => undefined,
  ) {
    this.ownsPool = !pool;
    this.pool = pool ?? new pg.Pool({ connectionString: cfg.databaseUrl, max: 2 });
    this.tableOf = new Map<string, QuarantineTable>([
      [cfg.webhookDlqTopic, 'webhook_quarantine'],
      [cfg.validationDlqTopic, 'validation_quarantine'],
    ]);
  }

  async start(): Promise<void> {
    const kafka = createKafka({
      brokers: this.cfg.kafkaBrokers,
      security: this.cfg.kafka,
      clientId: this.cfg.clientId,
      log: this.log,
    });
    this.admin = kafka.admin();
    await this.admin.connect();
    const consumer = kafka.consumer({
      groupId: this.cfg.groupId,
      sessionTimeout: this.cfg.sessionTimeoutMs,
      maxBytesPerPartition: this.cfg.maxFetchBytesPerPartition,
      maxBytes: this.cfg.maxFetchBytes,
      maxWaitTimeInMs: this.cfg.fetchMaxWaitMs,
      // Only committed transformer transactions: an aborted DLQ write must not become a quarantine row.
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) =>
      this.log.info('partitions assigned', { assignment: e.payload.memberAssignment }),
    );
    consumer.on(consumer.events.CRASH, (e) => {
      this.log.error('consumer crashed', { err: e.payload.error, restart: e.payload.restart });
      // kafkajs gives up on non-retriable errors: the consumer is gone, so the process must not look alive.
      if (!e.payload.restart) this.onFatal(e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.tableOf.keys()], fromBeginning: true });
    await consumer.run({
      // kafkajs commits only offsets we resolved, and we resolve only after the rows are in PostgreSQL.
      // Auto-commit (rather than manual) also moves past transaction markers that never reach eachBatch.
      autoCommit: true,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    this.stopLag = startLagPoller({
      admin: this.admin,
      groupId: this.cfg.groupId,
      topics: [...this.tableOf.keys()],
      gauge: this.metrics.lag,
      intervalMs: this.cfg.lagIntervalMs,
      log: this.log,
    });
    this.log.info('quarantine consumer started', { group: this.cfg.groupId, topics: [...this.tableOf.keys()] });
  }

  private async handleBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    const table = this.tableOf.get(batch.topic);
    if (!table) throw new Error(`no quarantine table for topic ${batch.topic}`);
    for (let i = 0; i < batch.messages.length; i += this.cfg.maxBatchRows) {
      if (!p.isRunning() || p.isStale()) return;
      const chunk = batch.messages.slice(i, i + this.cfg.maxBatchRows);
      const rows = chunk.map((m) =>
        toRow(table, { ...m, topic: batch.topic, partition: batch.partition } as DlqMessage),
      );
      const started = performance.now();
      try {
        await this.writeRows(table, rows);
      } catch (err) {
        this.metrics.writeFailures.inc({ table });
        this.log.error('quarantine write failed', {
          err,
          topic: batch.topic,
          partition: batch.partition,
          first_offset: chunk[0]?.offset,
        });
        throw err;
      }
      this.metrics.batchSeconds.observe((performance.now() - started) / 1000);
      p.resolveOffset((chunk[chunk.length - 1] as { offset: string }).offset);
      await p.commitOffsetsIfNecessary();
      await p.heartbeat();
    }
  }

  /** Writes rows in one statement; on a data error, row by row, degrading a refused row to raw-only. */
  private async writeRows(table: QuarantineTable, rows: readonly Row[]): Promise<void> {
    for (const r of rows) if (r.parse_error) this.metrics.parseErrors.inc({ table });
    try {
      const res = await this.pool.query(insertStatement(table, rows));
      this.count(table, rows.length, res.rowCount ?? 0);
      return;
    } catch (err) {
      if (!DATA_ERROR.test(String((err as { code?: string }).code ?? ''))) throw err;
      this.log.warn('batch insert refused, writing row by row', { table, err, rows: rows.length });
    }
    for (const row of rows) {
      try {
        const res = await this.pool.query(insertStatement(table, [row]));
        this.count(table, 1, res.rowCount ?? 0);
      } catch (err) {
        if (!DATA_ERROR.test(String((err as { code?: string }).code ?? ''))) throw err;
        const res = await this.pool.query(insertStatement(table, [rawOnlyRow(table, row, (err as Error).message)]));
        this.metrics.rawOnly.inc({ table });
        this.log.warn('record stored raw-only', {
          table,
          topic: row.kafka_topic,
          partition: row.kafka_partition,
          offset: row.kafka_offset,
          err,
        });
        this.count(table, 1, res.rowCount ?? 0);
      }
    }
  }

  private count(table: QuarantineTable, attempted: number, inserted: number): void {
    this.metrics.rows.inc({ table, result: 'inserted' }, inserted);
    if (attempted > inserted) this.metrics.rows.inc({ table, result: 'duplicate' }, attempted - inserted);
  }

  /** Finishes the batch in hand, commits, leaves the group (a clean rebalance), then closes connections. */
  async stop(): Promise<void> {
    this.stopLag?.();
    this.stopLag = null;
    await this.consumer?.disconnect();
    this.consumer = null;
    await this.admin?.disconnect();
    this.admin = null;
    if (this.ownsPool) await this.pool.end();
    this.log.info('quarantine consumer stopped');
  }
}

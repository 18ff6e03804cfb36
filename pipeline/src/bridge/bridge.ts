/**
 * Kafka → Temporal bridge. Consumer 1 reads `payments.normalized`. Adaptive (combiner.ts, BRIDGE_BATCH_SIZE > 1):
 * the partition batches of a fetch are pooled and cut into workflows by a workflow budget — one PaymentEventWorkflow
 * per event (id `payment-<event_id>`) while the budget lasts, PaymentBatchWorkflows of up to BRIDGE_BATCH_SIZE events
 * (id from the offsets, possibly spanning partitions, and a hash of their event ids) when it runs short. BRIDGE_BATCH_SIZE=1: always one workflow per
 * event. Both workflows claim each event by its event_id before processing. Either way: id-reuse policy
 * REJECT_DUPLICATE (a completed or failed workflow never runs again for a redelivered message; a failed batch
 * re-drives its events itself, a failed per-event workflow needs an operator reset) and conflict policy
 * USE_EXISTING (a redelivery while it runs attaches to the running one). Consumer 2 reads `payments.validation.dlq` and
 * registers the quarantined records for review: one INSERT of pending quarantine_reviews rows per run of up to
 * BRIDGE_REVIEW_GROUP_SIZE records, at most BRIDGE_REVIEW_GROUPS_PER_S a second, straight into PostgreSQL (reviews.ts,
 * review-store.ts; issue 13: a per-record review workflow on the payment queue let a flood of invalid events stop the
 * payment path, and review group workflows still shared the one Temporal server with payments).
 * Offsets are committed only after Temporal acknowledged the start (core.ts); a message that cannot start a workflow
 * at all (not JSON, no event_id) is written to the validation DLQ with a reason before its offset is committed.
 */

import { createHash } from 'node:crypto';
import {
  DLQ_CODES,
  paymentBatchWorkflowId,
  paymentWorkflowId,
  type ValidationDlqRecord,
  validationDlqRecord,
  WORKFLOW_TYPES,
} from '@pep/contracts';
import type { Logger } from '@pep/contracts/log';
import type { Registry } from '@pep/contracts/metrics';
import { SerialIdempotentProducer } from '@pep/kafka-wire/serial-producer';
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import pg from 'pg';
import { startLagPoller } from '../lib/kafka.ts';
import { registerReviewGroup, rekeyLegacyReviews } from '../quarantine/review-store.ts';
import { BacklogGate } from './backlog.ts';
import { AimdBudget, type BudgetStep } from './budget.ts';
import { type GroupPart, StartCombiner } from './combiner.ts';
import type { BridgeConfig } from './config.ts';
import { BridgeStoppedError, processBatch, retryUntilDone } from './core.ts';
import { cutReviewGroups, StartPacer } from './reviews.ts';

/** Budget decisions kept for inspection (`budgetSteps`; one per interval, so an hour at the default 1 s). */
const MAX_BUDGET_STEPS = 3600;

/** Largest event accepted from payments.normalized (the edge's body limit plus envelope). */
export const MAX_EVENT_BYTES = 1024 * 1024;
export const BRIDGE_DLQ_CODE = DLQ_CODES.bridgeInvalidEvent;

export type ParsedEvent = { ok: true; eventId: string; event: Record<string, unknown> } | { ok: false; error: string };

/** Reads a unified event from a message value; never throws. */
export function parseNormalized(value: Buffer | null): ParsedEvent {
  if (!value) return { ok: false, error: 'message has no value' };
  if (value.length > MAX_EVENT_BYTES) return { ok: false, error: `value over ${MAX_EVENT_BYTES} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `value is not JSON: ${(err as Error).message}` };
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    return { ok: false, error: 'value is not a JSON object' };
  const eventId = (parsed as Record<string, unknown>).event_id;
  if (typeof eventId !== 'string' || eventId.trim() === '' || eventId.length > 512) {
    return { ok: false, error: 'event_id is missing or not a string of at most 512 characters' };
  }
  return { ok: true, eventId, event: parsed as Record<string, unknown> };
}

/**
 * The events' part of a batch workflow id: 12 hex digits of SHA-256 over their event ids in order. The offsets alone
 * repeat once a topic starts over at 0 (recreated, a new cluster), and Temporal refused such a batch of new events as
 * a duplicate of an old one: the events never ran (a three-broker failover run on a reused Temporal lost one). The
 * same records fetched again give the same fingerprint, so a redelivered batch still maps to its first workflow.
 */
export function batchFingerprint(events: readonly Record<string, unknown>[]): string {
  const h = createHash('sha256');
  for (const e of events) h.update(`${String(e.event_id)}\n`);
  return h.digest('hex').slice(0, 12);
}

/**
 * The DLQ record (CONTRACT section 5, payments.validation.dlq) for a normalized message no workflow can take; the
 * builder redacts its payload, key and messages (card numbers, signatures).
 */
export function bridgeDlqRecord(
  topic: string,
  partition: number,
  m: KafkaMessage,
  error: string,
  now: Date,
): ValidationDlqRecord {
  return validationDlqRecord({
    providerEventId: m.key ? m.key.toString('utf8').slice(0, 512) : null,
    payload: m.value ?? Buffer.alloc(0),
    errors: [{ field: 'event', code: BRIDGE_DLQ_CODE, message: error }],
    source: { topic, partition, offset: Number(m.offset) },
    quarantinedAt: now,
  });
}

export interface BridgeDeps {
  readonly config: BridgeConfig;
  readonly kafka: Kafka;
  /** A client whose connection also serves the task-queue backlog reads (backpressure). */
  readonly temporal: Client;
  readonly log: Logger;
  readonly registry: Registry;
  /** PostgreSQL for review registration (default: a pool of 2 on config.databaseUrl, opened by the review lane). */
  readonly pool?: pg.Pool;
}

export class WorkflowBridge {
  private readonly consumers: Consumer[] = [];
  private producer: SerialIdempotentProducer | undefined;
  private admin: Admin | undefined;
  private stopLag: (() => void) | undefined;
  private running = false;
  private gate: BacklogGate | undefined;
  /** The review lane's own PostgreSQL pool (when BridgeDeps.pool is not given); ended at stop. */
  private ownPool: pg.Pool | undefined;
  private closeCombiner: (() => void) | undefined;
  private budget: AimdBudget | undefined;
  private budgetTimer: NodeJS.Timeout | undefined;
  private lastSampleAt = 0;
  /** Open completion samples: abort handle → start request time. */
  private readonly sampleAborts = new Map<AbortController, number>();
  /** The adaptive budget's decisions, oldest first (bounded); empty in per-event mode. */
  readonly budgetSteps: BudgetStep[] = [];
  readonly metrics;

  constructor(private readonly deps: BridgeDeps) {
    const r = deps.registry;
    this.metrics = {
      consumed: r.counter('bridge_messages_consumed_total', 'Messages read, by topic'),
      started: r.counter(
        'bridge_workflows_started_total',
        'Workflow starts acknowledged by Temporal (new or running), by type',
      ),
      duplicates: r.counter(
        'bridge_duplicates_total',
        'Redelivered events whose workflow had already closed (not run again)',
      ),
      quarantined: r.counter(
        'bridge_quarantined_total',
        'Normalized messages that could not start a workflow, sent to the DLQ',
      ),
      startErrors: r.counter('bridge_start_errors_total', 'Failed start attempts (each is retried; offsets wait)'),
      committed: r.counter(
        'bridge_messages_committed_total',
        'Messages whose offsets were resolved after acknowledgement',
      ),
      startLatency: r.histogram(
        'bridge_start_latency_seconds',
        'Time from fetch to Temporal acknowledging the start',
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ),
      lag: r.gauge('bridge_consumer_lag', 'Log-end offset minus committed offset, per topic and partition'),
      temporalBacklog: r.gauge('bridge_temporal_backlog', 'Workflow tasks waiting in the payment task queue'),
      reviewsRegistered: r.counter(
        'bridge_reviews_registered_total',
        'Pending reviews inserted into quarantine_reviews (records already registered are not counted again)',
      ),
      reviewGroupRecords: r.histogram(
        'bridge_review_group_records',
        'Quarantined records registered per INSERT (review group)',
        [1, 10, 50, 100, 250, 500],
      ),
      groupEvents: r.histogram(
        'bridge_workflow_group_events',
        'Events per workflow started by the adaptive bridge (1: per-event workflow)',
        [1, 2, 5, 10, 25, 50, 100, 200],
      ),
      budget: r.gauge('bridge_workflow_budget_per_s', 'Workflow starts per second the adaptive budget allows now'),
      budgetDecisions: r.counter('bridge_workflow_budget_decisions_total', 'Budget controller decisions, by decision'),
      completion: r.histogram(
        'bridge_workflow_completion_seconds',
        'Sampled workflow start request to completion (the budget controller input)',
        [0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10],
      ),
    };
  }

  /** Workflow starts per second the adaptive budget allows now (undefined in per-event mode). */
  get workflowBudgetPerS(): number | undefined {
    return this.budget?.perS;
  }

  async start(): Promise<void> {
    const { config, kafka } = this.deps;
    this.running = true;
    // Partitions quarantine concurrently: the serial producer keeps kafkajs's idempotent producer from acknowledging
    // a record it never wrote after a failed send (see kafka-wire/src/serial-producer.ts).
    this.producer = new SerialIdempotentProducer(() => kafka.producer({ idempotent: true, maxInFlightRequests: 1 }));
    await this.producer.connect();
    this.admin = kafka.admin();
    await this.admin.connect();
    // Payments and review registration may run in separate processes (BRIDGE_PAYMENTS / BRIDGE_REVIEWS), so that the
    // review lane can run at a lower CPU priority (BRIDGE_NICE) on a busy machine (issue 13).
    if (config.paymentsEnabled) {
      if (config.maxTemporalBacklog > 0) {
        this.gate = new BacklogGate({
          connection: this.deps.temporal.connection,
          namespace: config.namespace,
          taskQueue: config.taskQueue,
          maxBacklog: config.maxTemporalBacklog,
          pollMs: config.backlogPollMs,
          onBacklog: (n) => {
            this.metrics.temporalBacklog.set({}, n);
            this.budget?.observeBacklog(n);
          },
          onError: (err) => this.deps.log.warn('task queue backlog unreadable', { err }),
        });
        this.gate.start();
      }
      if (config.batchSize > 1) {
        await this.runAdaptivePaymentConsumer();
      } else {
        await this.runConsumer(config.paymentGroupId, config.normalizedTopic, true, (t, p, m) =>
          this.handlePayment(t, p, m),
        );
      }
    }
    const groups = config.paymentsEnabled ? [{ groupId: config.paymentGroupId, topic: config.normalizedTopic }] : [];
    if (config.reviewsEnabled) {
      await this.runReviewConsumer();
      groups.push({ groupId: config.reviewGroupId, topic: config.validationDlqTopic });
    }
    const stops = groups.map((g) =>
      startLagPoller({
        admin: this.admin as Admin,
        groupId: g.groupId,
        topics: [g.topic],
        gauge: this.metrics.lag,
        intervalMs: config.lagIntervalMs,
        log: this.deps.log,
      }),
    );
    this.stopLag = () => {
      for (const s of stops) s();
    };
  }

  /**
   * payments.normalized in adaptive mode: every fetched partition batch is submitted to one StartCombiner, which cuts
   * the pooled events into workflows by its budget; offsets are resolved and committed once the submission's starts
   * are acknowledged; then the combiner paces the next fetch while its budget is in debt.
   */
  private async runAdaptivePaymentConsumer(): Promise<void> {
    const { config, log } = this.deps;
    const topic = config.normalizedTopic;
    const budget = new AimdBudget(
      {
        minPerS: config.minWorkflowsPerS,
        maxPerS: config.maxWorkflowsPerS,
        initialPerS: config.initialWorkflowsPerS,
        increasePerS: config.budgetIncreasePerS,
        decreaseFactor: config.budgetDecreasePercent / 100,
        targetLatencyMs: config.budgetTargetLatencyMs,
        targetStartLatencyMs: config.budgetTargetStartLatencyMs,
        maxGroupEvents: config.batchSize,
        maxBacklog: config.budgetMaxBacklog,
        intervalMs: config.budgetIntervalMs,
      },
      Date.now(),
    );
    this.budget = budget;
    this.metrics.budget.set({}, budget.perS);
    const combiner = new StartCombiner<KafkaMessage>({
      maxGroupEvents: config.batchSize,
      workflowsPerS: budget.perS,
      burstWorkflows: config.burstWorkflows,
      windowMs: config.batchWindowMs,
      maxInFlight: config.maxInFlight,
      maxPaceMs: config.maxPaceMs,
      start: async (group) => {
        const startedAt = Date.now();
        await this.startGroup(group);
        this.metrics.startLatency.observe((Date.now() - startedAt) / 1000);
        budget.observeStartLatency(Date.now() - startedAt, startedAt);
      },
      retry: {
        initialMs: config.startRetryInitialMs,
        maxMs: config.startRetryMaxMs,
        onRetry: (err, attempt, delayMs) => {
          this.metrics.startErrors.inc({ topic });
          log.warn('workflow start failed, retrying', { topic, attempt, delayMs, err });
        },
      },
      ...(this.gate
        ? {
            beforeChunk: (isActive: () => boolean, heartbeat: () => Promise<void>) =>
              (this.gate as BacklogGate).waitBelow(isActive, heartbeat),
          }
        : {}),
      onFlush: (sizes, tokensLeft) => {
        for (const n of sizes) this.metrics.groupEvents.observe(n);
        // The budget limited this flush when it grouped events or left a debt the next fetch waits off.
        budget.noteFlush(sizes, tokensLeft < 0 || sizes.some((n) => n > 1));
      },
    });
    this.budgetTimer = setInterval(
      () => {
        const now = Date.now();
        if (budget.intervalDue(now)) {
          // A sample still open past the target counts with its age so far: otherwise slow workflows hold the sample
          // slots and a slow interval reports only its few fast completions (survivorship bias).
          for (const startedAt of this.sampleAborts.values()) {
            if (now - startedAt > config.budgetTargetLatencyMs) budget.observeLatency(now - startedAt, startedAt);
          }
        }
        const step = budget.tick(now);
        if (!step) return;
        combiner.setWorkflowsPerS(step.perS);
        this.metrics.budget.set({}, step.perS);
        this.metrics.budgetDecisions.inc({ decision: step.decision });
        this.budgetSteps.push(step);
        if (this.budgetSteps.length > MAX_BUDGET_STEPS) this.budgetSteps.shift();
        if (step.decision !== 'hold') log.info('workflow budget', { ...step });
      },
      Math.max(10, Math.floor(config.budgetIntervalMs / 4)),
    );
    this.closeCombiner = () => combiner.close();
    const consumer = await this.subscribedConsumer(config.paymentGroupId, topic, {
      minBytes: config.fetchMinBytes,
      maxWaitTimeInMs: config.fetchMaxWaitMs,
    });
    await consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 16,
      eachBatch: async (p: EachBatchPayload) => {
        const { messages, partition } = p.batch;
        const isActive = () => this.running && p.isRunning() && !p.isStale();
        if (messages.length === 0) return;
        this.metrics.consumed.inc({ topic }, messages.length);
        // A large fetch (a backlog) goes in slices of one budget burst, each paced: Temporal gets the backlog at the
        // budget's rate instead of all at once, and every slice commits its progress.
        const slice = config.batchSize * config.burstWorkflows;
        for (let i = 0; i < messages.length; i += slice) {
          if (!isActive()) return;
          const part = messages.slice(i, i + slice);
          try {
            await combiner.submit({ topic: p.batch.topic, partition, messages: part }, isActive, p.heartbeat);
          } catch (err) {
            // Stopped or revoked before every start was acknowledged: nothing more is committed, the rest comes again.
            if (err instanceof BridgeStoppedError) return;
            throw err;
          }
          p.resolveOffset((part[part.length - 1] as KafkaMessage).offset);
          await p.commitOffsetsIfNecessary();
          await p.heartbeat();
          this.metrics.committed.inc({ topic }, part.length);
          await combiner.pace(isActive);
        }
      },
    });
  }

  /** One workflow for a group from the combiner: a per-event workflow for one event, else a batch workflow. */
  private async startGroup(group: readonly GroupPart<KafkaMessage>[]): Promise<void> {
    const total = group.reduce((n, g) => n + g.messages.length, 0);
    const first = group[0] as GroupPart<KafkaMessage>;
    if (total === 1) {
      await this.handlePayment(first.topic, first.partition, first.messages[0] as KafkaMessage);
      return;
    }
    await this.handlePaymentGroup(group);
  }

  /** A read-committed group member subscribed to `topic`, closed with the bridge; fetch lingering set by the caller. */
  private async subscribedConsumer(
    groupId: string,
    topic: string,
    fetch: { minBytes: number; maxWaitTimeInMs: number },
  ): Promise<Consumer> {
    const { config, kafka } = this.deps;
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: Math.floor(config.sessionTimeoutMs / 10),
      readUncommitted: false,
      maxBytesPerPartition: 4 * 1024 * 1024,
      ...fetch,
    });
    this.consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: config.fromBeginning });
    return consumer;
  }

  private async runConsumer(
    groupId: string,
    topic: string,
    payments: boolean,
    handle: (topic: string, partition: number, m: KafkaMessage) => Promise<void>,
  ): Promise<void> {
    const { config, log } = this.deps;
    // One message per start: no reason to let the broker linger for more bytes.
    const consumer = await this.subscribedConsumer(groupId, topic, { minBytes: 1, maxWaitTimeInMs: 5000 });
    await consumer.run({
      // kafkajs commits only what we resolve, and we resolve only after acknowledgement (core.ts); auto-commit also
      // moves past transaction control records, which never reach eachBatch.
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: async (p: EachBatchPayload) => {
        const fetchedAt = Date.now();
        this.metrics.consumed.inc({ topic }, p.batch.messages.length);
        const n = await processBatch({
          messages: p.batch.messages,
          maxInFlight: config.maxInFlight,
          groupSize: 1,
          handle: async (group) => {
            await handle(p.batch.topic, p.batch.partition, group[0] as KafkaMessage);
            this.metrics.startLatency.observe((Date.now() - fetchedAt) / 1000);
          },
          retry: {
            initialMs: config.startRetryInitialMs,
            maxMs: config.startRetryMaxMs,
            onRetry: (err, attempt, delayMs) => {
              this.metrics.startErrors.inc({ topic });
              log.warn('workflow start failed, retrying', {
                topic,
                partition: p.batch.partition,
                attempt,
                delayMs,
                err,
              });
            },
          },
          isActive: () => this.running && p.isRunning() && !p.isStale(),
          resolveOffset: p.resolveOffset,
          commit: () => p.commitOffsetsIfNecessary(),
          heartbeat: p.heartbeat,
          ...(payments && this.gate
            ? {
                beforeChunk: () =>
                  (this.gate as BacklogGate).waitBelow(
                    () => this.running && p.isRunning() && !p.isStale(),
                    p.heartbeat,
                  ),
              }
            : {}),
        });
        this.metrics.committed.inc({ topic }, n);
      },
    });
  }

  private async quarantine(topic: string, partition: number, bad: readonly { m: KafkaMessage; error: string }[]) {
    await (this.producer as SerialIdempotentProducer).send({
      topic: this.deps.config.validationDlqTopic,
      acks: -1,
      messages: bad.map(({ m, error }) => {
        const rec = bridgeDlqRecord(topic, partition, m, error, new Date());
        return { key: rec.provider_event_id, value: JSON.stringify(rec) };
      }),
    });
    this.metrics.quarantined.inc({}, bad.length);
    for (const { m, error } of bad) {
      this.deps.log.warn('normalized message quarantined', { topic, partition, offset: m.offset, error });
    }
  }

  private async handlePayment(topic: string, partition: number, m: KafkaMessage): Promise<void> {
    const parsed = parseNormalized(m.value);
    if (!parsed.ok) {
      await this.quarantine(topic, partition, [{ m, error: parsed.error }]);
      return;
    }
    const startedAt = Date.now();
    try {
      const handle = await this.deps.temporal.workflow.start(WORKFLOW_TYPES.paymentEvent, {
        taskQueue: this.deps.config.taskQueue,
        workflowId: paymentWorkflowId(parsed.eventId),
        args: [
          {
            event: parsed.event,
            activityMode: this.deps.config.activityMode,
            source: { topic, partition, offset: m.offset },
          },
        ],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      this.metrics.started.inc({ type: WORKFLOW_TYPES.paymentEvent });
      this.sampleCompletion(handle, startedAt);
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        this.metrics.duplicates.inc({ type: WORKFLOW_TYPES.paymentEvent });
        return;
      }
      throw err;
    }
  }

  /**
   * Batch mode: one PaymentBatchWorkflow per group, id from the offsets of its parts (topic, then
   * `<partition>-<first>-<last>` per part, joined by `+`); events claimed by event_id inside.
   */
  private async handlePaymentGroup(group: readonly GroupPart<KafkaMessage>[]): Promise<void> {
    const events: Record<string, unknown>[] = [];
    for (const part of group) {
      const bad: { m: KafkaMessage; error: string }[] = [];
      for (const m of part.messages) {
        const parsed = parseNormalized(m.value);
        if (parsed.ok) events.push(parsed.event);
        else bad.push({ m, error: parsed.error });
      }
      if (bad.length > 0) await this.quarantine(part.topic, part.partition, bad);
    }
    if (events.length === 0) return;
    const first = group[0] as GroupPart<KafkaMessage>;
    const range = (g: GroupPart<KafkaMessage>) => ({
      partition: g.partition,
      firstOffset: (g.messages[0] as KafkaMessage).offset,
      lastOffset: (g.messages[g.messages.length - 1] as KafkaMessage).offset,
    });
    const ranges = group.map(range);
    const r0 = ranges[0] as ReturnType<typeof range>;
    const workflowId = [
      paymentBatchWorkflowId(first.topic, r0.partition, r0.firstOffset, r0.lastOffset, batchFingerprint(events)),
      ...ranges.slice(1).map((r) => `${r.partition}-${r.firstOffset}-${r.lastOffset}`),
    ].join('+');
    const startedAt = Date.now();
    try {
      const handle = await this.deps.temporal.workflow.start(WORKFLOW_TYPES.paymentBatch, {
        taskQueue: this.deps.config.taskQueue,
        workflowId,
        args: [
          {
            events,
            activityMode: this.deps.config.activityMode,
            source: { topic: first.topic, ...r0 },
            ...(ranges.length > 1 ? { sources: ranges.map((r) => ({ topic: first.topic, ...r })) } : {}),
          },
        ],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      this.metrics.started.inc({ type: WORKFLOW_TYPES.paymentBatch });
      this.sampleCompletion(handle, startedAt);
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        this.metrics.duplicates.inc({ type: WORKFLOW_TYPES.paymentBatch });
        return;
      }
      throw err;
    }
  }

  /**
   * Feeds the budget controller: now and then (at most every BRIDGE_BUDGET_SAMPLE_EVERY_MS, a bounded number at once)
   * waits for a started workflow's completion and reports start request → completion. A failed workflow completed too
   * (its latency counts); a sample still open after its timeout counts as that timeout (Temporal is not keeping up).
   */
  private sampleCompletion(handle: WorkflowHandle, startedAtMs: number): void {
    const budget = this.budget;
    const { config } = this.deps;
    const now = Date.now();
    if (!budget || !this.running || this.sampleAborts.size >= config.budgetMaxSamplesInFlight) return;
    if (now - this.lastSampleAt < config.budgetSampleEveryMs) return;
    this.lastSampleAt = now;
    const ctrl = new AbortController();
    this.sampleAborts.set(ctrl, startedAtMs);
    const timeoutMs = Math.max(5_000, 10 * config.budgetTargetLatencyMs);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctrl.abort();
    }, timeoutMs);
    const observe = (ms: number) => {
      budget.observeLatency(ms, startedAtMs);
      this.metrics.completion.observe(ms / 1000);
    };
    void this.deps.temporal
      .withAbortSignal(ctrl.signal, () => handle.result())
      .then(
        () => observe(Date.now() - startedAtMs),
        (err: unknown) => {
          if (timedOut) observe(timeoutMs);
          else if (err instanceof WorkflowFailedError) observe(Date.now() - startedAtMs);
          // Anything else (bridge stopping, connection trouble) says nothing about the latency.
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.sampleAborts.delete(ctrl);
      });
  }

  /**
   * payments.validation.dlq: each fetched partition batch is cut into review groups (reviews.ts), each registered as
   * pending quarantine_reviews rows by one INSERT in PostgreSQL (review-store.ts; idempotent on the review key), never
   * through Temporal: a flood's registration costs the shared Temporal server nothing (issue 13). Groups are paced
   * (BRIDGE_REVIEW_GROUPS_PER_S) on a pool of at most 2 connections; a group's offsets commit once its rows are written,
   * a failed write is retried (backoff) and never skipped.
   */
  private async runReviewConsumer(): Promise<void> {
    const { config, log } = this.deps;
    const topic = config.validationDlqTopic;
    const pool = this.deps.pool ?? new pg.Pool({ connectionString: config.databaseUrl, max: 2 });
    if (!this.deps.pool) {
      this.ownPool = pool;
      pool.on('error', (err) => log.warn('review registration database connection lost', { err }));
    }
    // Reviews registered before the review key named the record (upgrade): re-keyed first, so that their records
    // redelivered after the upgrade find them instead of getting a second review.
    const rekeyed = await retryUntilDone(() => rekeyLegacyReviews(pool), {
      initialMs: config.startRetryInitialMs,
      maxMs: config.startRetryMaxMs,
      isActive: () => this.running,
      onRetry: (err, attempt, delayMs) => log.warn('re-keying old reviews failed; retrying', { err, attempt, delayMs }),
    });
    if (rekeyed > 0) log.info('old reviews re-keyed', { rekeyed });
    const pacer = new StartPacer(config.reviewGroupsPerS);
    const consumer = await this.subscribedConsumer(config.reviewGroupId, topic, {
      minBytes: 64 * 1024,
      maxWaitTimeInMs: config.reviewFetchMaxWaitMs,
    });
    await consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async (p: EachBatchPayload) => {
        const { messages, partition } = p.batch;
        if (messages.length === 0) return;
        const isActive = () => this.running && p.isRunning() && !p.isStale();
        this.metrics.consumed.inc({ topic }, messages.length);
        for (const group of cutReviewGroups(p.batch.topic, partition, messages, config.reviewGroupSize)) {
          await pacer.wait(isActive);
          let added = 0;
          try {
            added = await retryUntilDone(
              () =>
                registerReviewGroup(pool, {
                  groupId: group.workflowId,
                  dlq: { topic: p.batch.topic, partition },
                  items: group.items,
                  timeoutMs: config.reviewTimeoutMs,
                }),
              {
                initialMs: config.startRetryInitialMs,
                maxMs: config.startRetryMaxMs,
                isActive,
                onRetry: (err, attempt, delayMs) => {
                  this.metrics.startErrors.inc({ topic });
                  log.warn('review registration failed, retrying', { topic, partition, attempt, delayMs, err });
                },
              },
            );
          } catch (err) {
            if (err instanceof BridgeStoppedError) return;
            throw err;
          }
          p.resolveOffset((group.messages[group.messages.length - 1] as KafkaMessage).offset);
          await p.commitOffsetsIfNecessary();
          await p.heartbeat();
          this.metrics.committed.inc({ topic }, group.messages.length);
          this.metrics.reviewGroupRecords.observe(group.items.length);
          this.metrics.reviewsRegistered.inc({}, added);
        }
      },
    });
  }

  /** Stops fetching, lets in-flight chunks finish or abandon (uncommitted), leaves the groups, closes connections. */
  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.budgetTimer);
    for (const c of this.sampleAborts.keys()) c.abort();
    this.gate?.stop();
    this.closeCombiner?.();
    this.stopLag?.();
    for (const c of this.consumers) await c.disconnect().catch(() => {});
    await this.producer?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
    await this.ownPool?.end().catch(() => {});
  }
}

export { BridgeStoppedError };

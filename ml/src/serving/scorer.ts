/**
 * Model scoring for the inference service: concurrent requests are gathered into micro-batches (up to `maxBatch`
 * events or `maxWaitMs`), and each micro-batch costs one pipelined Redis read for every entity's online features
 * and one onnxruntime run per model (the champion answers; the challenger, when it is another version, is scored
 * on the same rows in the shadow and only measured). Every answer carries the model version and the feature spec
 * version, and says how it was made: `features` online / stale (the consumer has not applied the event yet) /
 * unavailable (Redis down); `fallback` with its reason when rules-v1 answered (no model, model error, an event the
 * vectorizer cannot read). Never throws for one bad event: that event falls back, the rest of the batch is scored.
 */

import type { Counter, Gauge, Histogram, Registry } from '@pep/contracts/metrics';
import { type CoreImpl, packFeatureEvents, packFeatureRows } from '@pep/core-native';
import { eventTimeMs, type FeatureEvent } from '../features/aggregate.ts';
import type { FeatureValues, OnlineFeatures, RowFeatures, ValueColumns } from '../features/online.ts';
import type { FeatureSpecFile } from '../features/spec.ts';
import type { FraudFeatures } from '../rules.ts';
import type { IdleScavenger } from './idle-gc.ts';
import type { LoadedModel, ModelName, ModelSlot } from './models.ts';

export type FeaturesState = 'online' | 'stale' | 'unavailable';

export interface ScoreRequest {
  readonly model: ModelName;
  /** The normalized event (CONTRACT section 6) as JSON text; null when the caller sent too little to vectorize. */
  readonly eventJson: string | null;
  readonly event: FeatureEvent;
}

export interface ModelAnswer {
  /** Model probability, or null when the rules must answer (see `fallback_reason`). */
  readonly score: number | null;
  readonly model_version: string | null;
  readonly feature_spec_version: string;
  readonly features: FeaturesState;
  readonly fallback_reason: string | null;
  /**
   * The model's alert threshold (its `alert_threshold` tag, chosen on its evaluation window; null: the rules' 0.7).
   * Only with a model score.
   */
  readonly alert_threshold?: number | null;
  /** When the rules answer: the event's online feature records, for rules-v1's behaviour rules (null: none). */
  readonly records?: FraudFeatures | null;
}

export interface ScorerOptions {
  readonly maxBatch?: number;
  readonly maxWaitMs?: number;
  /** Most requests waiting for a batch; beyond it a request is answered by the rules at once (fallback, flagged). */
  readonly maxQueue?: number;
  /** false: every request is its own batch (the per-event baseline of the benchmark). */
  readonly microBatching?: boolean;
  /**
   * How the online features reach core-native's vectorizer: `numbers` (default) decoded from Redis into one matrix
   * (`readValues` + `vectorizeValues`), `json` one record object per entity and row, each written as JSON
   * (`read` + `vectorizeBatch`; the path before, kept as the benchmark's same-run baseline). Same vectors, bit for bit.
   */
  readonly recordsAs?: 'numbers' | 'json';
  /** Young-generation collections when the scorer goes idle (idle-gc.ts); absent or disabled: none. */
  readonly idleGc?: IdleScavenger;
}

export class ScorerMetrics {
  readonly latency: Histogram;
  readonly batchSize: Histogram;
  readonly scores: Histogram;
  readonly shadow: Histogram;
  readonly fallbacks: Counter;
  readonly drift: Gauge;
  readonly featureReads: Counter;
  constructor(registry: Registry) {
    this.latency = registry.histogram(
      'inference_batch_seconds',
      'Time to score one micro-batch (features + vectorize + ONNX), by model',
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
    );
    this.batchSize = registry.histogram(
      'inference_batch_size',
      'Events per micro-batch, by model',
      [1, 2, 4, 8, 16, 32, 64, 128, 256],
    );
    this.scores = registry.histogram(
      'inference_score',
      'Distribution of the served scores, by model and version',
      [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99],
    );
    this.shadow = registry.histogram(
      'inference_shadow_abs_diff',
      'Absolute difference between challenger (shadow) and champion scores on the same events',
      [0.001, 0.01, 0.05, 0.1, 0.2, 0.5],
    );
    this.fallbacks = registry.counter(
      'inference_fallback_total',
      'Answers given by rules-v1 instead of a model, by model and reason',
    );
    this.drift = registry.gauge(
      'inference_feature_mean_shift',
      'Per feature: (mean of the last scored window - mean of the first window) / (std of the first window + 1e-9)',
    );
    this.featureReads = registry.counter(
      'inference_feature_reads_total',
      'Online feature reads, by result (online, stale, unavailable)',
    );
  }
}

/**
 * Wall time per stage of the micro-batches scored so far (ms, summed), for the benchmark's per-stage breakdown of a
 * 64-event call (bench/ml): `read` the online features (one Redis call, decoded), `pack` the feature records as the
 * vectorizer's JSON rows, `vectorize` core-native, `onnx` tensor + session.run + the probabilities, `post` answers,
 * metrics and the drift gauge. `parse` and `answer` are the callers' (scoreFraudItems: items parsed, answers built).
 */
export interface StageTimes {
  batches: number;
  parse: number;
  read: number;
  pack: number;
  vectorize: number;
  onnx: number;
  post: number;
  answer: number;
}

export const emptyStageTimes = (): StageTimes => ({
  batches: 0,
  parse: 0,
  read: 0,
  pack: 0,
  vectorize: 0,
  onnx: 0,
  post: 0,
  answer: 0,
});

interface Pending {
  readonly req: ScoreRequest;
  readonly resolve: (a: ModelAnswer) => void;
}

/** Running mean/variance per feature over a window of rows, for the drift gauge (reference = first full window). */
class DriftTracker {
  private ref: { mean: Float64Array; std: Float64Array } | null = null;
  private sum: Float64Array;
  private sq: Float64Array;
  private n = 0;
  constructor(
    private readonly cols: number,
    private readonly window = 5000,
  ) {
    this.sum = new Float64Array(cols);
    this.sq = new Float64Array(cols);
  }
  add(x: Float32Array, rows: number, publish: (col: number, shift: number) => void): void {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < this.cols; c++) {
        const v = x[r * this.cols + c] as number;
        this.sum[c] = (this.sum[c] as number) + v;
        this.sq[c] = (this.sq[c] as number) + v * v;
      }
      if (++this.n < this.window) continue;
      const mean = this.sum.map((s) => s / this.n);
      const std = this.sq.map((s, c) => Math.sqrt(Math.max(0, s / this.n - (mean[c] as number) ** 2)));
      if (!this.ref) this.ref = { mean, std };
      else
        for (let c = 0; c < this.cols; c++)
          publish(c, ((mean[c] as number) - (this.ref.mean[c] as number)) / ((this.ref.std[c] as number) + 1e-9));
      this.sum.fill(0);
      this.sq.fill(0);
      this.n = 0;
    }
  }
}

export class Scorer {
  private readonly queues: Record<ModelName, Pending[]> = { fraud: [], churn: [] };
  private readonly timers: Record<ModelName, NodeJS.Timeout | null> = { fraud: null, churn: null };
  private readonly maxBatch: number;
  private readonly maxWaitMs: number;
  private readonly maxQueue: number;
  private readonly microBatching: boolean;
  readonly metrics: ScorerMetrics;
  private readonly drift: Record<ModelName, DriftTracker>;
  private readonly names: readonly string[];
  private readonly recordsAs: 'numbers' | 'json';
  private readonly width: number;
  private readonly columns: ValueColumns | null;
  /** Summed stage times (see StageTimes); a few clock reads per batch. */
  readonly stages: StageTimes = emptyStageTimes();
  /** Micro-batches being scored now. */
  private running = 0;
  /** Collects the young generation when the scorer goes idle (ScorerOptions.idleGc), or null. */
  readonly idleGc: IdleScavenger | null;

  constructor(
    private readonly core: CoreImpl,
    private readonly online: OnlineFeatures | null,
    readonly spec: FeatureSpecFile,
    private readonly slots: Record<ModelName, { champion: ModelSlot; challenger: ModelSlot }>,
    registry: Registry,
    opts: ScorerOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 64;
    this.maxWaitMs = opts.maxWaitMs ?? 1;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.microBatching = opts.microBatching ?? true;
    this.recordsAs = opts.recordsAs ?? 'numbers';
    this.idleGc = opts.idleGc?.enabled ? opts.idleGc : null;
    this.width = core.featureSpec().features.length;
    this.columns = online ? online.valueColumns(core.featureSpec().features) : null;
    this.metrics = new ScorerMetrics(registry);
    const cols = core.featureSpec().features.length;
    this.names = core.featureSpec().features.map((f) => f.name);
    this.drift = { fraud: new DriftTracker(cols), churn: new DriftTracker(cols) };
  }

  /** Scores one event; resolves when its micro-batch is done. */
  score(req: ScoreRequest): Promise<ModelAnswer> {
    const q = this.queues[req.model];
    // Without a champion the request still joins a micro-batch: rules-v1 answers with the event's online features.
    if (q.length >= this.maxQueue) return Promise.resolve(this.fallback(req.model, 'online', 'overloaded'));
    return new Promise((resolve) => {
      q.push({ req, resolve });
      if (!this.microBatching || q.length >= this.maxBatch) this.flush(req.model);
      else if (!this.timers[req.model])
        this.timers[req.model] = setTimeout(() => this.flush(req.model), this.maxWaitMs);
    });
  }

  /** Scores many events as micro-batches right away (the `/batch` endpoints). */
  async scoreMany(reqs: readonly ScoreRequest[]): Promise<ModelAnswer[]> {
    const out: ModelAnswer[] = [];
    for (let i = 0; i < reqs.length; i += this.maxBatch) {
      const chunk = reqs.slice(i, i + this.maxBatch);
      const model = chunk[0]?.model as ModelName;
      out.push(...(await this.run(model, chunk)));
    }
    return out;
  }

  private flush(model: ModelName): void {
    const t = this.timers[model];
    if (t) clearTimeout(t);
    this.timers[model] = null;
    const q = this.queues[model];
    while (q.length > 0) {
      const batch = q.splice(0, this.maxBatch);
      void this.run(
        model,
        batch.map((p) => p.req),
      ).then((answers) => {
        batch.forEach((p, i) => {
          p.resolve(answers[i] as ModelAnswer);
        });
      });
    }
  }

  private fallback(model: ModelName, features: FeaturesState, reason: string, row?: RowFeatures): ModelAnswer {
    this.metrics.fallbacks.inc({ model, reason });
    return {
      score: null,
      model_version: null,
      feature_spec_version: this.spec.version,
      features,
      fallback_reason: reason,
      records: row ? { customer: row.customer.record, payment_method: row.payment_method.record } : null,
    };
  }

  /** One micro-batch: one Redis round trip, one vectorize call, one ORT run per model. Never rejects. */
  private async run(model: ModelName, reqs: readonly ScoreRequest[]): Promise<ModelAnswer[]> {
    this.running++;
    try {
      return await (this.recordsAs === 'json' ? this.runJson(model, reqs) : this.runValues(model, reqs));
    } finally {
      this.running--;
      if (this.running === 0 && this.idleGc) this.idleGc.idle(this.isIdle);
    }
  }

  /** No micro-batch running or waiting (the idle scavenger's moment). */
  private readonly isIdle = (): boolean =>
    this.running === 0 && this.queues.fraud.length === 0 && this.queues.churn.length === 0;

  /** `run` with the features as numbers (readValues + vectorizeValues). */
  private async runValues(model: ModelName, reqs: readonly ScoreRequest[]): Promise<ModelAnswer[]> {
    const started = performance.now();
    const st = this.stages;
    st.batches++;
    this.metrics.batchSize.observe(reqs.length, { model });
    let fv: FeatureValues | null = null;
    let featuresState: FeaturesState = 'online';
    // The read's command is written to Redis before readValues returns; the events are packed for the vectorizer
    // while Redis runs the read script (~0.5-0.8 ms per 64-event batch), not after the reply.
    const reading =
      this.online && this.columns
        ? this.online.readValues(
            reqs.map((r) => r.event),
            this.columns,
            this.width,
          )
        : null;
    const ok0: number[] = [];
    reqs.forEach((r, i) => {
      if (r.eventJson && Number.isFinite(eventTimeMs(r.event))) ok0.push(i);
    });
    const p0 = performance.now();
    let packedEvents: ReturnType<typeof packFeatureEvents> | null = null;
    if (ok0.length > 0 && this.slots[model].champion.model) {
      try {
        packedEvents = packFeatureEvents(ok0.map((i) => reqs[i]?.eventJson as string));
      } catch {
        // Packed again below, where a failure sends the rows to the per-row fallback.
      }
    }
    const packMs = performance.now() - p0;
    if (reading) {
      try {
        fv = await reading;
      } catch {
        featuresState = 'unavailable';
      }
    } else featuresState = 'unavailable';
    this.metrics.featureReads.inc({ result: featuresState }, reqs.length);
    let t = performance.now();
    st.read += t - started - packMs;
    st.pack += packMs;
    const rowOf = (i: number): RowFeatures | undefined => fv?.row(i);
    if (!this.slots[model].champion.model) {
      // No champion: rules-v1 answers every event, with its features (no vectorize, no ONNX run).
      const answers = reqs.map((_, i) => {
        const f = rowOf(i);
        return this.fallback(model, featuresState === 'online' && f?.stale ? 'stale' : featuresState, 'no_model', f);
      });
      this.metrics.latency.observe((performance.now() - started) / 1000, { model });
      return answers;
    }
    const answers: (ModelAnswer | null)[] = reqs.map(() => null);
    let ok: number[] = ok0;
    reqs.forEach((r, i) => {
      if (!r.eventJson || !Number.isFinite(eventTimeMs(r.event))) {
        answers[i] = this.fallback(model, featuresState, 'event_incomplete', rowOf(i));
      }
    });
    const width = this.width;
    /** The rows `idx` as one FeatureValuesBatch (without features: every record missing, as the JSON path's nulls). */
    const batchOf = (idx: readonly number[]) => {
      const events =
        idx === ok0 && packedEvents ? packedEvents : packFeatureEvents(idx.map((i) => reqs[i]?.eventJson as string));
      if (!fv) {
        return { ...events, values: new Float64Array(idx.length * width), present: new Uint8Array(idx.length * 3) };
      }
      if (idx.length === fv.rows) return { ...events, values: fv.values, present: fv.present };
      const values = new Float64Array(idx.length * width);
      const present = new Uint8Array(idx.length * 3);
      idx.forEach((i, r) => {
        values.set(fv.values.subarray(i * width, (i + 1) * width), r * width);
        present.set(fv.present.subarray(i * 3, i * 3 + 3), r * 3);
      });
      return { ...events, values, present };
    };
    let x: Float32Array | null = null;
    try {
      const packed = batchOf(ok);
      const t1 = performance.now();
      st.pack += t1 - t;
      x = this.core.vectorizeValues(packed);
      t = performance.now();
      st.vectorize += t - t1;
    } catch {
      ok = ok.filter((i) => {
        try {
          this.core.vectorizeValues(batchOf([i]));
          return true;
        } catch {
          answers[i] = this.fallback(model, featuresState, 'event_unreadable', rowOf(i));
          return false;
        }
      });
      x = this.core.vectorizeValues(batchOf(ok));
      t = performance.now();
    }
    return this.scoreRows(model, answers, ok, x, featuresState, (i) => fv?.stale[i] === 1, rowOf, started, t);
  }

  /** `run` with one record object per entity and row, as JSON (read + vectorizeBatch): ScorerOptions.recordsAs. */
  private async runJson(model: ModelName, reqs: readonly ScoreRequest[]): Promise<ModelAnswer[]> {
    const started = performance.now();
    const st = this.stages;
    st.batches++;
    this.metrics.batchSize.observe(reqs.length, { model });
    let rows: RowFeatures[] | null = null;
    let featuresState: FeaturesState = 'online';
    if (this.online) {
      try {
        rows = await this.online.read(reqs.map((r) => r.event));
      } catch {
        featuresState = 'unavailable';
      }
    } else featuresState = 'unavailable';
    this.metrics.featureReads.inc({ result: featuresState }, reqs.length);
    let t = performance.now();
    st.read += t - started;
    if (!this.slots[model].champion.model) {
      // No champion: rules-v1 answers every event, with its features (no vectorize, no ONNX run).
      const answers = reqs.map((_, i) => {
        const f = rows?.[i];
        return this.fallback(model, featuresState === 'online' && f?.stale ? 'stale' : featuresState, 'no_model', f);
      });
      this.metrics.latency.observe((performance.now() - started) / 1000, { model });
      return answers;
    }
    const answers: (ModelAnswer | null)[] = reqs.map(() => null);
    // Rows the vectorizer can read; the others fall back one by one (looked for only when the batch call fails).
    let ok: number[] = [];
    const j = (x: Record<string, number> | null | undefined) => (x ? JSON.stringify(x) : null);
    const rowOf = (i: number) => {
      const f = rows?.[i];
      return {
        event: reqs[i]?.eventJson as string,
        customer: j(f?.customer.record),
        merchant: j(f?.merchant.record),
        paymentMethod: j(f?.payment_method.record),
      };
    };
    reqs.forEach((r, i) => {
      if (!r.eventJson || !Number.isFinite(eventTimeMs(r.event))) {
        answers[i] = this.fallback(model, featuresState, 'event_incomplete', rows?.[i]);
      } else ok.push(i);
    });
    let x: Float32Array | null = null;
    try {
      const packed = packFeatureRows(ok.map(rowOf));
      const t1 = performance.now();
      st.pack += t1 - t;
      x = this.core.vectorizeBatch(packed);
      t = performance.now();
      st.vectorize += t - t1;
    } catch {
      ok = ok.filter((i) => {
        try {
          this.core.vectorizeBatch(packFeatureRows([rowOf(i)]));
          return true;
        } catch {
          answers[i] = this.fallback(model, featuresState, 'event_unreadable', rows?.[i]);
          return false;
        }
      });
      x = this.core.vectorizeBatch(packFeatureRows(ok.map(rowOf)));
      t = performance.now();
    }
    return this.scoreRows(
      model,
      answers,
      ok,
      x,
      featuresState,
      (i) => rows?.[i]?.stale === true,
      (i) => rows?.[i],
      started,
      t,
    );
  }

  /** The model runs of a vectorized batch (`x`: the rows `ok`), their answers, metrics and the shadow. */
  private async scoreRows(
    model: ModelName,
    answers: (ModelAnswer | null)[],
    ok: readonly number[],
    x: Float32Array,
    featuresState: FeaturesState,
    staleOf: (i: number) => boolean,
    rowAt: (i: number) => RowFeatures | undefined,
    started: number,
    vectorized: number,
  ): Promise<ModelAnswer[]> {
    const st = this.stages;
    let t = vectorized;
    const champion = this.slots[model].champion.acquire();
    const challengerSlot = this.slots[model].challenger;
    const challenger =
      challengerSlot.model && challengerSlot.model.version !== champion?.version ? challengerSlot.acquire() : null;
    try {
      if (ok.length > 0 && champion) {
        const scored = await this.scoreWith(champion, x, ok.length);
        const t1 = performance.now();
        st.onnx += t1 - t;
        t = t1;
        if (!scored) {
          for (const i of ok) answers[i] = this.fallback(model, featuresState, 'model_error', rowAt(i));
        } else {
          // One series lookup per batch, not per row (the label key is built from the labels on every lookup).
          const scores = this.metrics.scores.series({ model, version: champion.version });
          ok.forEach((i, k) => {
            const stale = staleOf(i);
            const s = Math.round((scored[k] as number) * 10_000) / 10_000;
            scores.observe(s);
            answers[i] = {
              score: s,
              model_version: champion.label,
              feature_spec_version: this.spec.version,
              features: featuresState === 'online' && stale ? 'stale' : featuresState,
              fallback_reason: null,
              alert_threshold: champion.alertThreshold,
            };
          });
          this.drift[model].add(x, ok.length, (c, shift) =>
            this.metrics.drift.set({ model, feature: this.names[c] as string }, shift),
          );
          if (challenger) {
            const shadow = await this.scoreWith(challenger, x, ok.length);
            if (shadow) {
              const diffs = this.metrics.shadow.series({ model, challenger: challenger.version });
              for (let k = 0; k < ok.length; k++)
                diffs.observe(Math.abs((shadow[k] as number) - (scored[k] as number)));
            }
          }
        }
      } else if (ok.length > 0) {
        for (const i of ok) answers[i] = this.fallback(model, featuresState, 'no_model', rowAt(i));
      }
    } catch {
      for (const i of ok) answers[i] ??= this.fallback(model, featuresState, 'model_error', rowAt(i));
    } finally {
      if (champion) this.slots[model].champion.release(champion);
      if (challenger) challengerSlot.release(challenger);
      const end = performance.now();
      st.post += end - t;
      this.metrics.latency.observe((end - started) / 1000, { model });
    }
    return answers.map((a, i) => a ?? this.fallback(model, featuresState, 'model_error', rowAt(i)));
  }

  private async scoreWith(m: LoadedModel, x: Float32Array, rows: number): Promise<Float32Array | null> {
    try {
      return await m.classifier.score(x, rows);
    } catch {
      return null;
    }
  }
}

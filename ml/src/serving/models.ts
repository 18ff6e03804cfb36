/**
 * The served models: for each of fraud and churn, the MLflow `champion` (answers) and `challenger` (shadow scored),
 * loaded into onnxruntime-node and reloaded when an alias moves. A reload loads and probes the new file first and
 * then swaps one reference, so requests never wait and never see half a model; the old session is released once
 * the requests that hold it are done. Anything wrong (MLflow down, alias to nothing, a file that fails its checksum
 * or does not load, a model trained on another feature spec) keeps what was loaded, or none, and is reported in
 * `status()` and the metrics, so answers fall back to rules-v1 visibly instead of crashing or guessing.
 */
import { OnnxClassifier } from './onnx.ts';
import { type ModelRegistry, type ModelVersionInfo, RegistryError } from './registry.ts';

export type ModelName = 'fraud' | 'churn';
export type Alias = 'champion' | 'challenger';

export interface LoadedModel {
  readonly name: ModelName;
  readonly alias: Alias;
  readonly version: string;
  /** `fraud@3`: what answers and payment_events rows carry as model_version. */
  readonly label: string;
  readonly classifier: OnnxClassifier;
  /**
   * Score at or above which an answer is risk level `high` (an alert): the version's `alert_threshold` tag, chosen by
   * training on its evaluation window; null (a version without the tag): the rules' FRAUD_ALERT_THRESHOLD.
   */
  readonly alertThreshold: number | null;
  inFlight: number;
  retired: boolean;
}

/** What a read of a registered model's aliases said for one alias (ModelSlot.refresh). */
export type AliasHint = { readonly version: string | null } | { readonly error: unknown };

export interface SlotStatus {
  readonly version: string | null;
  readonly error: string | null;
  readonly checkedAt: string | null;
}

/** A version's `alert_threshold` tag as a score in (0, 1], or null when absent or not such a number. */
export function alertThresholdOf(tag: string | undefined): number | null {
  const v = tag === undefined || tag.trim() === '' ? Number.NaN : Number(tag);
  return Number.isFinite(v) && v > 0 && v <= 1 ? v : null;
}

export class ModelSlot {
  private current: LoadedModel | null = null;
  private lastError: string | null = null;
  private checkedAt: Date | null = null;
  private loadingVersion: string | null = null;
  private loading: Promise<void> | null = null;
  /** A version that failed to load: not downloaded again on every poll (its error stays reported). */
  private failedVersion: string | null = null;

  constructor(
    readonly name: ModelName,
    readonly alias: Alias,
    readonly registeredName: string,
    private readonly registry: ModelRegistry,
    private readonly cols: number,
    private readonly specVersion: string,
    private readonly onEvent: (e: { kind: 'loaded' | 'error'; slot: ModelSlot; detail: string }) => void = () => {},
  ) {}

  /** The model to use now (hold it with acquire/release around a run). */
  get model(): LoadedModel | null {
    return this.current;
  }

  acquire(): LoadedModel | null {
    const m = this.current;
    if (m) m.inFlight++;
    return m;
  }

  release(m: LoadedModel): void {
    m.inFlight--;
    if (m.retired && m.inFlight === 0) void m.classifier.release().catch(() => {});
  }

  status(): SlotStatus {
    return {
      version: this.current?.version ?? null,
      error: this.lastError,
      checkedAt: this.checkedAt?.toISOString() ?? null,
    };
  }

  private fail(detail: string): void {
    this.lastError = detail;
    this.onEvent({ kind: 'error', slot: this, detail });
  }

  /**
   * Checks the alias once and loads a moved version; never throws. `hint`: what a read of the registered model's
   * aliases just said (ModelRegistry.aliases, one request per model name for both slots): the version this alias
   * points at (null: no such alias or model), or the error that read met. When it names the loaded version nothing
   * more is asked; a moved alias is then read in full (its version's source and tags) as without a hint.
   */
  async refresh(hint?: AliasHint): Promise<void> {
    this.checkedAt = new Date();
    if (hint && 'error' in hint) {
      const err = hint.error;
      this.fail(err instanceof RegistryError ? `${err.code}: ${err.message}` : String(err));
      return;
    }
    if (hint && hint.version !== null && hint.version === this.current?.version) {
      this.lastError = null;
      return;
    }
    let mv: ModelVersionInfo | null;
    try {
      mv = hint?.version === null ? null : await this.registry.alias(this.registeredName, this.alias);
    } catch (err) {
      this.fail(err instanceof RegistryError ? `${err.code}: ${err.message}` : String(err));
      return;
    }
    if (!mv) {
      // An alias that points at nothing: what was loaded is no longer approved, so stop using it.
      if (this.current) this.retire(this.current);
      this.current = null;
      this.fail(`alias_not_found: ${this.registeredName}@${this.alias} does not exist`);
      return;
    }
    if (mv.version === this.loadingVersion) {
      // Another refresh is loading this version: wait for it, so that a caller's refresh() means "loaded".
      await this.loading;
      return;
    }
    if (mv.version === this.current?.version) {
      this.lastError = null;
      return;
    }
    if (mv.version === this.failedVersion) return;
    if (mv.tags.feature_spec_version !== this.specVersion) {
      this.fail(
        `feature_spec_mismatch: ${this.registeredName} v${mv.version} was trained on ${mv.tags.feature_spec_version ?? '(unknown)'}, serving ${this.specVersion}`,
      );
      return;
    }
    this.loadingVersion = mv.version;
    this.loading = this.load(mv);
    await this.loading;
  }

  private async load(mv: ModelVersionInfo): Promise<void> {
    try {
      const bytes = await this.registry.download(mv);
      const classifier = await OnnxClassifier.load(bytes, this.cols);
      const next: LoadedModel = {
        name: this.name,
        alias: this.alias,
        version: mv.version,
        label: `${this.name}@${mv.version}`,
        classifier,
        alertThreshold: alertThresholdOf(mv.tags.alert_threshold),
        inFlight: 0,
        retired: false,
      };
      const prev = this.current;
      this.current = next;
      this.lastError = null;
      if (prev) this.retire(prev);
      this.onEvent({ kind: 'loaded', slot: this, detail: `${this.registeredName} v${mv.version} (${this.alias})` });
    } catch (err) {
      // A broken file stays broken; an unreachable server may come back, so that version is tried again.
      if (!(err instanceof RegistryError && err.code === 'registry_unreachable')) this.failedVersion = mv.version;
      this.fail(
        err instanceof RegistryError ? `${err.code}: ${err.message}` : `model_load_failed: ${(err as Error).message}`,
      );
    } finally {
      this.loadingVersion = null;
      this.loading = null;
    }
  }

  private retire(m: LoadedModel): void {
    m.retired = true;
    if (m.inFlight === 0) void m.classifier.release().catch(() => {});
  }

  async close(): Promise<void> {
    if (this.current) this.retire(this.current);
    this.current = null;
  }
}

/**
 * The MLflow model registry over its REST API (no MLflow client in Node): which version an alias points at, and
 * that version's ONNX file, checked against the sha256 recorded at registration. Every failure is a typed
 * RegistryError with a code, so serving can fall back visibly instead of crashing or guessing.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export const REGISTRY_ERRORS = {
  unreachable: 'registry_unreachable',
  noAlias: 'alias_not_found',
  badVersion: 'model_version_invalid',
  artifactMissing: 'artifact_missing',
  checksum: 'artifact_checksum_mismatch',
  tooLarge: 'artifact_too_large',
} as const;
export type RegistryErrorCode = (typeof REGISTRY_ERRORS)[keyof typeof REGISTRY_ERRORS];

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ModelVersionInfo {
  readonly name: string;
  readonly version: string;
  readonly source: string;
  readonly runId: string | null;
  readonly tags: Readonly<Record<string, string>>;
}

/** Largest model file accepted (a LightGBM model of a few hundred trees is well under 10 MiB). */
export const MAX_MODEL_BYTES = 64 * 1024 * 1024;

/**
 * How long an idle connection to MLflow is kept for the next small GET: under uvicorn's 5 s keep-alive, so that we
 * close it first rather than reuse one the server is closing.
 */
const KEEP_ALIVE_MS = 4000;

export class ModelRegistry {
  private agent: http.Agent | null = null;

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 5000,
  ) {}

  /**
   * A small GET's status and text over node:http with a kept-alive agent. Serving checks every slot's alias every
   * ML_RELOAD_INTERVAL_MS on the event loop that scores: with global fetch (undici, web streams, an AbortSignal per
   * request) one check of the 4 slots cost 4.0-5.3 ms of CPU, with this 2.2-3.1 ms (bench/ml). A request that fails
   * on a reused connection the server closed meanwhile is sent once more on a new one.
   */
  private getText(path: string, retry = true): Promise<{ status: number; text: string }> {
    const url = new URL(`${this.baseUrl}${path}`);
    const client = url.protocol === 'https:' ? https : http;
    this.agent ??= new client.Agent({ keepAlive: true, timeout: KEEP_ALIVE_MS });
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      const fail = (err: Error & { code?: string }) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (retry && req.reusedSocket && err.code === 'ECONNRESET') {
          resolve(this.getText(path, false));
          return;
        }
        reject(
          new RegistryError(REGISTRY_ERRORS.unreachable, `MLflow at ${this.baseUrl} is unreachable: ${err.message}`),
        );
      };
      const req = client.get(url, { agent: this.agent as http.Agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.on('error', fail);
    });
  }

  private async get(path: string): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new RegistryError(
        REGISTRY_ERRORS.unreachable,
        `MLflow at ${this.baseUrl} is unreachable: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Every alias of a registered model (alias -> version) in one request, or null when the model does not exist.
   * Serving polls this per model name (ModelSlot.refresh's `hint`) instead of one request per alias: MLflow spends
   * ~6-9 ms of CPU per request on this 2-core box, beside the scoring it would preempt (bench/ml).
   */
  async aliases(name: string): Promise<Map<string, string> | null> {
    const res = await this.getText(`/api/2.0/mlflow/registered-models/get?name=${encodeURIComponent(name)}`);
    if (res.status === 404 || (res.status === 400 && /RESOURCE_DOES_NOT_EXIST/.test(res.text))) return null;
    if (res.status < 200 || res.status > 299) {
      throw new RegistryError(
        REGISTRY_ERRORS.unreachable,
        `MLflow answered ${res.status} for ${name}: ${res.text.slice(0, 200)}`,
      );
    }
    let model: { aliases?: unknown } | undefined;
    try {
      model = (JSON.parse(res.text) as { registered_model?: { aliases?: unknown } }).registered_model;
    } catch {
      model = undefined;
    }
    const list = model?.aliases ?? [];
    if (!model || !Array.isArray(list)) {
      throw new RegistryError(REGISTRY_ERRORS.badVersion, `${name}: MLflow returned no usable registered model`);
    }
    const out = new Map<string, string>();
    for (const a of list as { alias?: unknown; version?: unknown }[]) {
      if (typeof a?.alias !== 'string' || typeof a.version !== 'string') {
        throw new RegistryError(REGISTRY_ERRORS.badVersion, `${name}: MLflow returned an alias without a version`);
      }
      out.set(a.alias, a.version);
    }
    return out;
  }

  /** The version `alias` points at, or null when the model or the alias does not exist. */
  async alias(name: string, alias: string): Promise<ModelVersionInfo | null> {
    const res = await this.getText(
      `/api/2.0/mlflow/registered-models/alias?name=${encodeURIComponent(name)}&alias=${encodeURIComponent(alias)}`,
    );
    const text = res.text;
    // MLflow 3 answers 404 RESOURCE_DOES_NOT_EXIST for an unknown model and 400 "alias … not found" for a missing alias.
    if (res.status === 404 || (res.status === 400 && /RESOURCE_DOES_NOT_EXIST|alias \S+ not found/i.test(text)))
      return null;
    if (res.status < 200 || res.status > 299) {
      throw new RegistryError(
        REGISTRY_ERRORS.unreachable,
        `MLflow answered ${res.status} for ${name}@${alias}: ${text.slice(0, 200)}`,
      );
    }
    const mv = (JSON.parse(text) as { model_version?: Record<string, unknown> }).model_version;
    if (!mv || typeof mv.version !== 'string' || typeof mv.source !== 'string') {
      throw new RegistryError(REGISTRY_ERRORS.badVersion, `${name}@${alias}: MLflow returned no usable model version`);
    }
    const tags = Object.fromEntries(
      ((mv.tags as { key: string; value: string }[] | undefined) ?? []).map((t) => [t.key, t.value]),
    );
    return {
      name,
      version: mv.version,
      source: mv.source,
      runId: typeof mv.run_id === 'string' ? mv.run_id : null,
      tags,
    };
  }

  /** A file the version's run logged beside model.onnx (e.g. `drift_reference.json`), at most `maxBytes`. */
  async artifact(mv: ModelVersionInfo, file: string, maxBytes = MAX_MODEL_BYTES): Promise<Buffer> {
    const m = /^mlflow-artifacts:\/(.*)$/.exec(mv.source);
    if (!m) {
      throw new RegistryError(
        REGISTRY_ERRORS.badVersion,
        `${mv.name} v${mv.version}: source ${mv.source} is not served by MLflow`,
      );
    }
    const path = (m[1] as string).replace(/^\/+/, '');
    const res = await this.get(`/api/2.0/mlflow-artifacts/artifacts/${path}/${file}`);
    if (!res.ok) {
      throw new RegistryError(
        REGISTRY_ERRORS.artifactMissing,
        `${mv.name} v${mv.version}: ${file} not found under ${mv.source} (HTTP ${res.status})`,
      );
    }
    const len = Number(res.headers.get('content-length') ?? 0);
    if (len > maxBytes) throw new RegistryError(REGISTRY_ERRORS.tooLarge, `${mv.name} v${mv.version}: ${len} bytes`);
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > maxBytes) {
      throw new RegistryError(REGISTRY_ERRORS.tooLarge, `${mv.name} v${mv.version}: ${body.length} bytes`);
    }
    return body;
  }

  /** The version's `model.onnx`, verified against its `onnx_sha256` tag. */
  async download(mv: ModelVersionInfo): Promise<Buffer> {
    const body = await this.artifact(mv, 'model.onnx');
    const want = mv.tags.onnx_sha256;
    const got = createHash('sha256').update(body).digest('hex');
    if (!want || want !== got) {
      throw new RegistryError(
        REGISTRY_ERRORS.checksum,
        `${mv.name} v${mv.version}: model.onnx sha256 ${got} does not match the registered ${want ?? '(none)'}`,
      );
    }
    return body;
  }
}

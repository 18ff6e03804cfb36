/**
 * The shared view of a Kafka cluster for kafka-wire's consumers and producers: bootstrap from a broker list, a
 * Metadata (v4) cache with partition counts and leaders, one lazily opened BrokerConnection per broker node and
 * "lane" (a lane is a separate TCP connection, so a long-polling Fetch never queues a produce or a heartbeat behind
 * it: Kafka answers the requests of one connection strictly in order), and group / transaction coordinators found
 * with FindCoordinator (v2, the newest non-flexible version; the 4.1 broker accepts v0-v6).
 *
 * What it does not do: retry requests for the caller (only its own Metadata and FindCoordinator lookups are retried,
 * with bounded backoff), decide when metadata is stale (callers call `markStale` / `forgetCoordinator` after
 * NOT_LEADER_OR_FOLLOWER, NOT_COORDINATOR or a connection error). Every connection carries the cluster's `security`
 * (TLS, SASL; @pep/contracts/kafka-security) and checks the broker's API versions at connect (connection.ts); a
 * fatal error there (authentication, an untrusted certificate, a missing API) is thrown at once, never retried.
 * Reference: https://kafka.apache.org/protocol (Metadata, FindCoordinator).
 */

import type { KafkaSasl, KafkaTls } from '@pep/contracts/kafka-security';
import { BrokerConnection, type ConnectionOptions } from './connection.ts';
import { RequestWriter, ResponseReader } from './consumer-codec.ts';
import { checkApiVersion, isFatalConnectionError } from './handshake.ts';
import {
  type BrokerAddress,
  decodeMetadataResponse,
  encodeMetadataRequest,
  KafkaProtocolError,
  kafkaErrorName,
} from './protocol.ts';

export type CoordinatorType = 'group' | 'transaction';

/** Bounded retry with exponential backoff (the backoff doubles from `initialBackoffMs` up to `maxBackoffMs`). */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

export interface LaneOptions {
  /** Overrides the cluster's request timeout on this lane (a Fetch lane needs more than its max wait). */
  readonly requestTimeoutMs?: number;
  readonly maxPending?: number;
}

export interface KafkaClusterOptions {
  /** Bootstrap brokers as 'host:port'. */
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** Requests awaiting an answer on one connection at most. */
  readonly maxPendingPerConnection?: number;
  /** A topic's leaders are fetched again when older than this (and at once after `markStale`). */
  readonly metadataMaxAgeMs?: number;
  /** For this class's own Metadata and FindCoordinator lookups. */
  readonly retry?: Partial<RetryPolicy>;
  /** Per-lane connection settings, by lane name ('default' is used when a call names no lane). */
  readonly lanes?: Readonly<Record<string, LaneOptions>>;
  /** TLS and SASL (from `loadKafkaConnection()`); absent: plaintext, no authentication. */
  readonly security?: { readonly tls: KafkaTls | null; readonly sasl: KafkaSasl | null };
  /** Called when a broker asks this client to hold back (throttle_time_ms > 0, KIP-219). */
  readonly onThrottle?: ConnectionOptions['onThrottle'];
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 10, initialBackoffMs: 5, maxBackoffMs: 500 };

const DEFAULTS = {
  connectTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  maxPendingPerConnection: 64,
  metadataMaxAgeMs: 300_000,
} as const;

/** Topics one cluster tracks at most (a guard: metadata requests carry every tracked topic). */
const MAX_TRACKED_TOPICS = 10_000;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The backoff before retry number `attempt` (1-based), with jitter between half and all of it. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.max(0, attempt - 1));
  return base / 2 + Math.random() * (base / 2);
}

/**
 * Runs `fn` until it succeeds, `retriable(err)` is false, or `policy.maxAttempts` attempts failed; then throws the
 * last error. `beforeRetry` runs before each backoff (to drop a cached coordinator, for example).
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  retriable: (err: unknown) => boolean,
  fn: (attempt: number) => Promise<T>,
  beforeRetry?: (err: unknown, attempt: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.maxAttempts || !retriable(err)) throw err;
      beforeRetry?.(err, attempt);
      await sleep(backoffMs(policy, attempt));
    }
  }
}

export function parseBrokerList(brokers: readonly string[]): { host: string; port: number }[] {
  if (brokers.length === 0) throw new Error('no Kafka bootstrap brokers given');
  return brokers.map((b) => {
    const i = b.lastIndexOf(':');
    const host = i > 0 ? b.slice(0, i) : '';
    const port = Number(b.slice(i + 1));
    if (!host || !Number.isInteger(port) || port <= 0 || port > 65535)
      throw new Error(`bad Kafka broker address '${b}' (expected host:port)`);
    return { host, port };
  });
}

// ---------- FindCoordinator v2 ----------

export const FIND_COORDINATOR = { apiKey: 10, version: 2 } as const;
const KEY_TYPE: Record<CoordinatorType, number> = { group: 0, transaction: 1 };

export function encodeFindCoordinatorRequest(
  correlationId: number,
  clientId: Buffer,
  keyType: CoordinatorType,
  key: string,
): Buffer {
  return new RequestWriter(64 + key.length * 3)
    .header(FIND_COORDINATOR.apiKey, FIND_COORDINATOR.version, correlationId, clientId, false)
    .string(key)
    .int8(KEY_TYPE[keyType])
    .finish();
}

export interface FindCoordinatorResponse {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
}

export function decodeFindCoordinatorResponse(body: Buffer): FindCoordinatorResponse {
  const r = new ResponseReader(body);
  r.int32(); // throttle_time_ms
  const errorCode = r.int16();
  const errorMessage = r.string();
  const nodeId = r.int32();
  const host = r.string() ?? '';
  const port = r.int32();
  return { errorCode, errorMessage, nodeId, host, port };
}

/** Error codes after which a coordinator lookup (or a request to the coordinator) is worth repeating. */
export const COORDINATOR_RETRIABLE = new Set([14, 15, 16]); // LOAD_IN_PROGRESS, NOT_AVAILABLE, NOT_COORDINATOR

/** Kafka codes meaning "not yet" (a moved or loading coordinator, stale metadata) and socket errors; a caller's
 * RangeError (a partition the topic does not have) is final. */
const isRetriableLookup = (err: unknown): boolean =>
  err instanceof KafkaProtocolError
    ? COORDINATOR_RETRIABLE.has(err.code) || err.stale
    : !(err instanceof RangeError) && !isFatalConnectionError(err);

// ---------- the cluster ----------

interface CachedTopic {
  readonly errorCode: number;
  /** Leader node id by partition (-1: none right now); its length is the partition count. */
  readonly leaders: readonly number[];
  fetchedAtMs: number;
}

export class KafkaCluster {
  readonly clientId: Buffer;
  private readonly bootstrap: { host: string; port: number }[];
  private readonly opts: Required<
    Omit<KafkaClusterOptions, 'retry' | 'lanes' | 'brokers' | 'clientId' | 'security' | 'onThrottle'>
  >;
  private readonly security: KafkaClusterOptions['security'];
  private readonly onThrottle: KafkaClusterOptions['onThrottle'];
  readonly retryPolicy: RetryPolicy;
  private readonly lanes: Readonly<Record<string, LaneOptions>>;
  private readonly brokersById = new Map<number, BrokerAddress>();
  private readonly connections = new Map<string, BrokerConnection>();
  private readonly topics = new Map<string, CachedTopic>();
  /** Topics every metadata refresh asks for. */
  private readonly tracked = new Set<string>();
  private readonly coordinators = new Map<string, number>();
  private readonly lookups = new Map<string, Promise<number>>();
  private refreshRunning: Promise<void> | null = null;
  /** A refresh queued behind the running one; calls made before it starts share it (and add their topics). */
  private refreshQueued: Promise<void> | null = null;
  private closed = false;

  constructor(options: KafkaClusterOptions) {
    this.bootstrap = parseBrokerList(options.brokers);
    this.clientId = Buffer.from(options.clientId, 'utf8');
    this.opts = {
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      maxPendingPerConnection: options.maxPendingPerConnection ?? DEFAULTS.maxPendingPerConnection,
      metadataMaxAgeMs: options.metadataMaxAgeMs ?? DEFAULTS.metadataMaxAgeMs,
    };
    this.retryPolicy = { ...DEFAULT_RETRY, ...options.retry };
    if (this.retryPolicy.maxAttempts < 1) throw new RangeError('retry.maxAttempts must be at least 1');
    this.lanes = options.lanes ?? {};
    this.security = options.security;
    this.onThrottle = options.onThrottle;
  }

  /** Fetches the broker list (no topics); optional, every other call bootstraps on demand. */
  async connect(): Promise<void> {
    await this.refresh();
  }

  /** Known brokers, by node id. */
  get brokers(): readonly BrokerAddress[] {
    return [...this.brokersById.values()];
  }

  /**
   * Fetches metadata for every tracked topic plus `topics` (which become tracked). Concurrent calls share requests:
   * at most one runs and one waits behind it.
   */
  refresh(topics: readonly string[] = []): Promise<void> {
    this.assertOpen();
    for (const t of topics) {
      if (!this.tracked.has(t) && this.tracked.size >= MAX_TRACKED_TOPICS)
        throw new Error(`more than ${MAX_TRACKED_TOPICS} topics tracked`);
      this.tracked.add(t);
    }
    if (this.refreshQueued) return this.refreshQueued;
    const before = this.refreshRunning ?? Promise.resolve();
    const next: Promise<void> = before
      .catch(() => undefined)
      .then(() => {
        this.refreshQueued = null;
        this.refreshRunning = next;
        return withRetry(this.retryPolicy, isRetriableLookup, () => this.fetchMetadata([...this.tracked]));
      })
      .finally(() => {
        if (this.refreshRunning === next) this.refreshRunning = null;
      });
    this.refreshQueued = next;
    return next;
  }

  private async fetchMetadata(topics: string[]): Promise<void> {
    const body = await this.sendToAny((id) => encodeMetadataRequest(id, this.clientId, topics));
    const meta = decodeMetadataResponse(body);
    if (meta.brokers.length === 0) throw new Error('Kafka metadata named no brokers');
    const now = Date.now();
    for (const b of meta.brokers) this.registerBroker(b);
    for (const t of meta.topics) {
      if (t.errorCode === 3) this.tracked.delete(t.name); // unknown: stop asking until someone asks again
      this.topics.set(t.name, { errorCode: t.errorCode, leaders: t.leaders, fetchedAtMs: now });
    }
    // A topic leader that is not a listed broker is unusable: treat it as "no leader right now".
    for (const t of meta.topics)
      if (t.leaders.some((l) => l >= 0 && !this.brokersById.has(l)))
        this.topics.set(t.name, {
          errorCode: t.errorCode,
          leaders: t.leaders.map((l) => (this.brokersById.has(l) ? l : -1)),
          fetchedAtMs: now,
        });
  }

  private registerBroker(b: BrokerAddress): void {
    const known = this.brokersById.get(b.nodeId);
    if (known && (known.host !== b.host || known.port !== b.port)) this.dropConnections(b.nodeId);
    this.brokersById.set(b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port });
  }

  /** Sends a request to some reachable broker: an open connection first, then the known brokers, then bootstrap. */
  private async sendToAny(build: (correlationId: number) => Buffer): Promise<Buffer> {
    const errors: string[] = [];
    const candidates: { nodeId: number | null; host: string; port: number }[] = [];
    const open = [...this.connections.entries()].find(([, c]) => c.usable);
    if (open) {
      const nodeId = Number(open[0].split('/')[0]);
      const b = this.brokersById.get(nodeId);
      if (b) candidates.push(b);
    }
    for (const b of this.brokersById.values()) if (!candidates.includes(b)) candidates.push(b);
    for (const b of this.bootstrap) candidates.push({ nodeId: null, ...b });
    for (const c of candidates) {
      let conn: BrokerConnection | null = null;
      try {
        conn = c.nodeId === null ? this.newConnection(c.host, c.port, undefined) : await this.connection(c.nodeId);
        await conn.connect();
        const id = conn.correlationId();
        return await conn.request(id, build(id));
      } catch (err) {
        // Wrong credentials, an untrusted certificate or a missing API: every broker would say the same.
        if (isFatalConnectionError(err)) throw err;
        errors.push(`${c.host}:${c.port}: ${(err as Error).message}`);
      } finally {
        if (c.nodeId === null) conn?.close(); // bootstrap connections are one-shot; node connections are kept
      }
    }
    throw new Error(`no Kafka broker reachable (${errors.join('; ')})`);
  }

  private newConnection(host: string, port: number, lane: LaneOptions | undefined): BrokerConnection {
    return new BrokerConnection({
      host,
      port,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      requestTimeoutMs: lane?.requestTimeoutMs ?? this.opts.requestTimeoutMs,
      maxPending: lane?.maxPending ?? this.opts.maxPendingPerConnection,
      clientId: this.clientId,
      tls: this.security?.tls ?? null,
      sasl: this.security?.sasl ?? null,
      ...(this.onThrottle ? { onThrottle: this.onThrottle } : {}),
    });
  }

  /**
   * The open connection to broker `nodeId` on `lane` (opened on first use, replaced once it failed). Lanes are
   * separate TCP connections: use one per kind of traffic that must not wait behind another (e.g. 'fetch').
   */
  async connection(nodeId: number, lane = 'default'): Promise<BrokerConnection> {
    this.assertOpen();
    const key = `${nodeId}/${lane}`;
    let conn = this.connections.get(key);
    if (!conn?.usable) {
      conn?.retire();
      const b = this.brokersById.get(nodeId);
      if (!b) throw new Error(`unknown Kafka broker node ${nodeId} (refresh metadata first)`);
      conn = this.newConnection(b.host, b.port, this.lanes[lane]);
      this.connections.set(key, conn);
    }
    await conn.connect();
    return conn;
  }

  /**
   * One request to broker `nodeId`: `build` encodes it with the given correlation id, `decode` reads the response
   * body (after the correlation id; flexible responses start with a tagged-field section). `build` may return chunks
   * (written back to back in one writev). Not retried here.
   */
  async send<T>(
    nodeId: number,
    build: (correlationId: number) => Buffer | readonly Buffer[],
    decode: (body: Buffer) => T,
    lane = 'default',
  ): Promise<T> {
    const conn = await this.connection(nodeId, lane);
    const id = conn.correlationId();
    return decode(await conn.request(id, build(id)));
  }

  /**
   * Connects to a broker and checks that it serves every API at the version given (ApiVersions at connect): a client
   * calls it at start so that an old or restricted broker stops it with an UnsupportedApiError naming the API.
   */
  async checkApis(apis: readonly { readonly key: number; readonly version: number }[]): Promise<void> {
    const node = await this.anyNode();
    const conn = await this.connection(node);
    const versions = conn.apiVersions;
    if (versions) for (const a of apis) checkApiVersion(versions, a.key, a.version, conn.address);
  }

  private cachedTopic(topic: string): CachedTopic | undefined {
    const t = this.topics.get(topic);
    return t && Date.now() - t.fetchedAtMs <= this.opts.metadataMaxAgeMs ? t : undefined;
  }

  /** Some broker's node id (one with an open connection if any), for requests any broker can answer. */
  async anyNode(): Promise<number> {
    if (this.brokersById.size === 0) await this.refresh();
    for (const key of this.connections.keys()) {
      const nodeId = Number(key.split('/')[0]);
      if (this.connections.get(key)?.usable && this.brokersById.has(nodeId)) return nodeId;
    }
    const first = this.brokersById.keys().next();
    if (first.done) throw new Error('Kafka metadata named no brokers');
    return first.value;
  }

  /**
   * Partition count of `topic` (fetching its metadata when not cached or stale). Unknown topic, after the bounded
   * retries: KafkaProtocolError UNKNOWN_TOPIC_OR_PARTITION.
   */
  async partitionCount(topic: string): Promise<number> {
    const cached = this.cachedTopic(topic);
    if (cached?.errorCode === 0) return cached.leaders.length;
    // A topic created a moment ago may still answer LEADER_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION: bounded retry.
    return withRetry(this.retryPolicy, isRetriableLookup, async () => {
      await this.refresh([topic]);
      const t = this.topics.get(topic);
      if (!t) throw new KafkaProtocolError(3, `Metadata(${topic})`);
      if (t.errorCode !== 0 && t.leaders.length === 0) throw new KafkaProtocolError(t.errorCode, `Metadata(${topic})`);
      return t.leaders.length;
    });
  }

  /** The cached leader (no I/O): undefined when unknown, stale or leaderless; then call `leaderFor`. */
  cachedLeader(topic: string, partition: number): number | undefined {
    const l = this.cachedTopic(topic)?.leaders[partition];
    return l !== undefined && l >= 0 ? l : undefined;
  }

  /**
   * The node id leading `topic`/`partition`, refreshing metadata when unknown or stale and retrying (bounded) while
   * the partition has no leader. Unknown topic: KafkaProtocolError UNKNOWN_TOPIC_OR_PARTITION; a partition beyond
   * the topic's count: RangeError.
   */
  async leaderFor(topic: string, partition: number): Promise<number> {
    const cached = this.cachedLeader(topic, partition);
    if (cached !== undefined) return cached;
    return withRetry(this.retryPolicy, isRetriableLookup, async (attempt) => {
      if (attempt > 1 || !this.cachedTopic(topic)) await this.refresh([topic]);
      const t = this.topics.get(topic);
      if (!t || (t.errorCode !== 0 && t.leaders.length === 0))
        throw new KafkaProtocolError(t?.errorCode ?? 3, `Metadata(${topic})`);
      if (!Number.isInteger(partition) || partition < 0 || partition >= t.leaders.length)
        throw new RangeError(`${topic} has ${t.leaders.length} partitions; no partition ${partition}`);
      const leader = t.leaders[partition] as number;
      if (leader < 0) throw new KafkaProtocolError(5, `Metadata(${topic}/${partition})`);
      return leader;
    });
  }

  /** Next `leaderFor` / `partitionCount` for `topic` (every topic when omitted) fetches metadata again. */
  markStale(topic?: string): void {
    if (topic === undefined) for (const t of this.topics.values()) t.fetchedAtMs = 0;
    else {
      const t = this.topics.get(topic);
      if (t) t.fetchedAtMs = 0;
    }
  }

  /**
   * The node id of the coordinator for a consumer group or a transactional id (cached until `forgetCoordinator`).
   * Retries COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR and connection errors with
   * bounded backoff; other Kafka errors (e.g. GROUP_AUTHORIZATION_FAILED) throw a KafkaProtocolError at once.
   */
  coordinator(keyType: CoordinatorType, key: string): Promise<number> {
    this.assertOpen();
    const cacheKey = `${keyType}\0${key}`;
    const known = this.coordinators.get(cacheKey);
    if (known !== undefined && this.brokersById.has(known)) return Promise.resolve(known);
    let lookup = this.lookups.get(cacheKey);
    if (!lookup) {
      lookup = withRetry(this.retryPolicy, isRetriableLookup, async () => {
        const body = await this.sendToAny((id) => encodeFindCoordinatorRequest(id, this.clientId, keyType, key));
        const res = decodeFindCoordinatorResponse(body);
        if (res.errorCode !== 0)
          throw new KafkaProtocolError(
            res.errorCode,
            `FindCoordinator(${keyType} '${key}')${res.errorMessage ? ` ${res.errorMessage}` : ''}`,
          );
        this.registerBroker({ nodeId: res.nodeId, host: res.host, port: res.port });
        this.coordinators.set(cacheKey, res.nodeId);
        return res.nodeId;
      }).finally(() => this.lookups.delete(cacheKey));
      this.lookups.set(cacheKey, lookup);
    }
    return lookup;
  }

  /** Drops a cached coordinator (after NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a connection error). */
  forgetCoordinator(keyType: CoordinatorType, key: string): void {
    this.coordinators.delete(`${keyType}\0${key}`);
  }

  private dropConnections(nodeId: number): void {
    for (const [key, conn] of this.connections)
      if (key.startsWith(`${nodeId}/`)) {
        conn.close();
        this.connections.delete(key);
      }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('KafkaCluster is closed');
  }

  /** Closes every connection; requests still waiting reject. The cluster cannot be used afterwards. */
  close(): void {
    this.closed = true;
    for (const conn of this.connections.values()) conn.close();
    this.connections.clear();
  }
}

/** `err` is a Kafka error with one of `codes` (for branching on codes, never on messages). */
export const hasKafkaCode = (err: unknown, ...codes: number[]): boolean =>
  typeof (err as { code?: unknown } | null)?.code === 'number' && codes.includes((err as { code: number }).code);

export { kafkaErrorName };

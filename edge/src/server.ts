/**
 * Process wiring: config → sink (Kafka or, for benchmarks, memory) → group-commit producer → Hono app → HTTP
 * server on Bun (Bun.serve) or Node (@hono/node-server), plus graceful shutdown on SIGTERM/SIGINT:
 * stop listening, mark not ready, drain in-flight batches (bounded), close the producer, exit.
 */

import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROVIDERS } from '@pep/contracts';
import { createLogger, type Logger } from '@pep/contracts/log';
import { isFatalConnectionError } from '@pep/kafka-wire/handshake';
import { IdempotentProducer } from '@pep/kafka-wire/idempotent-producer';
import { createApp } from './app.ts';
import { describeConfig, type EdgeConfig } from './config.ts';
import { EventLoopLagSampler } from './loop-lag.ts';
import { EdgeMetrics } from './metrics.ts';
import { loadChecksum } from './native-checksum.ts';
import { PEER_HEADER, startPipeliningGuard } from './pipelining-guard.ts';
import { GroupCommitProducer } from './producer.ts';
import { type BatchSink, MemorySink } from './sink.ts';

export type Runtime = 'bun' | 'node';
// biome-ignore lint/suspicious/noExplicitAny: Bun's global is untyped here (no bun-types in this workspace)
const BunGlobal = (globalThis as any).Bun as any;
export const runtime: Runtime = BunGlobal ? 'bun' : 'node';

export interface RunningEdge {
  readonly port: number;
  readonly sink: BatchSink;
  readonly producer: GroupCommitProducer;
  /** Drains and stops; resolves when every in-flight request was answered. */
  stop(): Promise<void>;
}

const READY_CACHE_MS = 1000;

/** Where accepted webhooks go: Kafka (kafka-wire's idempotent producer) or, for benchmarks, memory. */
async function createSink(config: EdgeConfig, metrics: EdgeMetrics, log: Logger): Promise<BatchSink> {
  if (config.sink === 'memory') return new MemorySink();
  const checksum = await loadChecksum();
  log.info('record batch checksum', { crc32c: checksum.impl, ...(checksum.reason ? { why: checksum.reason } : {}) });
  const native = checksum.impl === 'native' ? 1 : 0;
  metrics.gauge(
    'edge_kafka_crc32c_native',
    '1 when record batches are checksummed by core-native, 0 in JS',
    () => native,
  );
  return new IdempotentProducer({
    brokers: config.kafkaBrokers,
    security: config.kafka,
    compression: config.kafkaCompression,
    clientId: config.kafkaClientId,
    requestTimeoutMs: config.limits.produceTimeoutMs,
    producers: config.limits.maxConcurrentBatches,
    log,
    crc32c: checksum.crc32c,
  });
}

/**
 * Readiness, probed at most once per second whatever the probe rate, and again at once after a failed batch (a cached
 * "ready" must not outlive a broker that just stopped answering).
 */
function readinessProbe(sink: BatchSink, metrics: EdgeMetrics): () => Promise<boolean> {
  let readyAt = 0;
  let readyFailedBatches = 0;
  let readyValue: Promise<boolean> = Promise.resolve(false);
  return () => {
    const now = Date.now();
    const failedBatches = metrics.batches.get({ result: 'failed' });
    if (now - readyAt > READY_CACHE_MS || failedBatches !== readyFailedBatches) {
      readyAt = now;
      readyFailedBatches = failedBatches;
      readyValue = sink.probe(READY_CACHE_MS);
    }
    return readyValue;
  };
}

/** Connects eagerly but does not block startup: until Kafka answers, /readyz is 503 and webhooks get 503. */
function connectInBackground(
  sink: IdempotentProducer,
  config: EdgeConfig,
  log: Logger,
  onFatal: (err: Error) => void,
): void {
  sink.connect().then(
    () => log.info('kafka producer connected', { brokers: config.kafkaBrokers }),
    (err: Error) => {
      if (isFatalConnectionError(err)) {
        log.error(
          'kafka refused the edge; check the Kafka settings (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*)',
          {
            error: err.message,
          },
        );
        onFatal(err);
      } else log.warn('kafka producer not connected yet; webhooks answer 503 until it is', { error: err.message });
    },
  );
}

type EdgeApp = ReturnType<typeof createApp>;

/** A listening HTTP server: its port, and how to close it. */
interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves the app on Bun (Bun.serve), behind the pipelining guard unless EDGE_PIPELINING_GUARD=off. */
function listenOnBun(config: EdgeConfig, app: EdgeApp, log: Logger): Listening {
  // Bun routes `POST /webhooks/<provider>[/]` natively to the webhook handler (no URL string built and scanned in JS);
  // other methods on those paths, odd spellings (percent-encoding, extra segments) and every other route fall
  // through to app.fetch, which answers them as on Node.
  type BunServer = { requestIP(req: Request): { address: string } | null };
  const routes: Record<string, { POST: (req: Request, server: BunServer) => Promise<Response> }> = {};
  for (const provider of PROVIDERS) {
    const route = {
      POST: (req: Request, server: BunServer) => app.handleWebhook(provider, req, server.requestIP(req)?.address),
    };
    routes[`/webhooks/${provider}`] = route;
    routes[`/webhooks/${provider}/`] = route;
  }
  // The pipelining guard (pipelining-guard.ts) owns the public port and hands Bun.serve, on a private unix socket,
  // one request at a time per connection; EDGE_PIPELINING_GUARD=off listens on the port directly.
  const unixPath = config.pipeliningGuard ? join(tmpdir(), `pep-edge-${process.pid}-${randomUUID()}.sock`) : null;
  const server = BunGlobal.serve({
    ...(unixPath ? { unix: unixPath } : { port: config.port, hostname: config.host }),
    routes,
    fetch: app.fetch,
    // Never Bun's development mode (it renders errors with stack traces), whatever NODE_ENV says.
    development: false,
    // Behind the pipelining guard, Bun.serve closing an idle connection closes only the guard's upstream one: the
    // client's connection stays open and its next request opens a new one.
    idleTimeout: config.limits.idleTimeoutS,
    // The route enforces maxBodyBytes itself: it refuses a declared Content-Length over the limit unread and stops a
    // streamed body at the limit, answering the contract's 413 JSON with `Connection: close`. Bun's own limit would
    // answer a large declared length first with an empty, non-JSON 413 (issue 13), so it is set out of the way.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  });
  const guard = unixPath
    ? startPipeliningGuard({
        hostname: config.host,
        port: config.port,
        upstreamUnix: unixPath,
        maxHeldBytes: Math.max(1024 * 1024, 2 * config.limits.maxBodyBytes + 64 * 1024),
        idleTimeoutS: config.limits.clientIdleTimeoutS,
        onError: (err) => log.warn('pipelining guard: upstream error', { error: err.message }),
      })
    : null;
  return {
    port: guard ? guard.port : server.port,
    close: async () => {
      guard?.stop();
      await server.stop(false);
      if (unixPath) rmSync(unixPath, { force: true });
    },
  };
}

/** Serves the app on Node (@hono/node-server). */
async function listenOnNode(config: EdgeConfig, app: EdgeApp): Promise<Listening> {
  const { serve } = await import('@hono/node-server');
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : config.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // idle keep-alive sockets would hold close() open
        (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      }),
  };
}

export async function startEdge(
  config: EdgeConfig,
  log: Logger = createLogger(config.logLevel, { service: 'edge' }),
  /**
   * Kafka refused this client for good (wrong credentials, an untrusted or misnamed certificate, a broker without an
   * API the producer needs): retrying cannot help. main.ts exits 2 with the message; the default only logs.
   */
  onFatal: (err: Error) => void = () => undefined,
): Promise<RunningEdge> {
  const metrics = new EdgeMetrics();
  const sink = await createSink(config, metrics, log);
  const producer = new GroupCommitProducer(sink, config.limits, metrics, log);
  const loopLag = new EventLoopLagSampler(metrics.eventLoopLag);
  loopLag.start();
  const ready = readinessProbe(sink, metrics);

  // Behind the guard, Bun.serve sees a unix socket: the client's address comes in the guard's header.
  const peerHeader = runtime === 'bun' && config.pipeliningGuard ? PEER_HEADER : undefined;
  const app = createApp({ config, producer, metrics, log, ready, ...(peerHeader ? { peerHeader } : {}) });
  if (sink instanceof IdempotentProducer) connectInBackground(sink, config, log, onFatal);

  const server = runtime === 'bun' ? listenOnBun(config, app, log) : await listenOnNode(config, app);
  const port = server.port;
  log.info('edge listening', { runtime, port, config: describeConfig(config) });

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      log.info('edge shutting down: draining in-flight batches', { in_flight: producer.inFlightMessages });
      const closed = server.close();
      const { drained } = await producer.drain(config.limits.shutdownTimeoutMs);
      await sink.close();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
      loopLag.stop();
      log.info('edge stopped', { drained });
    })();
    return stopping;
  };
  return { port, sink, producer, stop };
}

/**
 * Addresses and defaults of CONTRACT section 2. Every process reads its addresses through here so that
 * the local stack, the services and docker-compose.yml agree on one set of ports.
 */

export const SERVICE_DEFAULTS = {
  /** saslSslPort: the local stack's SASL_SSL listener (TLS + SCRAM/PLAIN/OAUTHBEARER), advertised as `localhost`. */
  kafka: { host: '127.0.0.1', port: 9092, controllerPort: 9093, saslSslPort: 9094 },
  temporal: { host: '127.0.0.1', port: 7233, namespace: 'default', uiPort: 8233 },
  postgres: { host: '127.0.0.1', port: 5432, database: 'payments', user: 'payments', password: 'payments' },
  /** tlsPort: the local stack's TLS port (certificate for `localhost`). */
  redis: { host: '127.0.0.1', port: 6379, tlsPort: 6380 },
  edge: { port: 8080 },
  trino: { host: '127.0.0.1', port: 8085 },
  inference: { host: '127.0.0.1', port: 8090 },
  /** Prometheus `/metrics` of the background services, each moved by `<SERVICE>_METRICS_PORT` (the edge serves its own). */
  metrics: {
    transformer: 9464,
    quarantine: 9465,
    bridge: 9466,
    worker: 9467,
    orchestrator: 9468,
    features: 9469,
    lakeSink: 9470,
    /** The review lanes `npm start` runs apart from payments (issue 13): the worker's and the bridge's. */
    reviewWorker: 9471,
    reviewBridge: 9472,
  },
  /** Optional local S3-compatible object store (moto's server; `stack:up -- --with s3`), for lake-on-S3 tests. */
  s3: { host: '127.0.0.1', port: 9000, region: 'us-east-1', bucket: 'pep-lake' },
  /** Optional Iceberg REST catalog (Apache Iceberg's REST fixture; `stack:up -- --with iceberg-rest`). */
  icebergRest: { host: '127.0.0.1', port: 8181 },
  superset: { host: '127.0.0.1', port: 8088 },
  mlflow: { host: '127.0.0.1', port: 5000 },
} as const;

export interface ServiceAddresses {
  readonly kafkaBrokers: readonly string[];
  readonly temporalAddress: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly edgePort: number;
}

const d = SERVICE_DEFAULTS;
export const DEFAULT_DATABASE_URL = `postgres://${d.postgres.user}:${d.postgres.password}@${d.postgres.host}:${d.postgres.port}/${d.postgres.database}`;

/** Reads the addresses from the environment, falling back to the local defaults. */
export function serviceAddresses(env: NodeJS.ProcessEnv = process.env): ServiceAddresses {
  const edgePort = Number(env.EDGE_PORT ?? d.edge.port);
  if (!Number.isInteger(edgePort) || edgePort <= 0 || edgePort > 65535) {
    throw new Error(`EDGE_PORT must be a TCP port, got ${JSON.stringify(env.EDGE_PORT)}`);
  }
  return Object.freeze({
    kafkaBrokers: Object.freeze(
      (env.KAFKA_BROKERS ?? `${d.kafka.host}:${d.kafka.port}`)
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
    ),
    temporalAddress: env.TEMPORAL_ADDRESS ?? `${d.temporal.host}:${d.temporal.port}`,
    databaseUrl: env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    redisUrl: env.REDIS_URL ?? `redis://${d.redis.host}:${d.redis.port}`,
    edgePort,
  });
}

/**
 * Local-development webhook secrets, identical to the committed `.env.example` (edge/src/config.test.ts keeps them in
 * sync). The edge verifies with them and the simulator signs with them when nothing else is configured; with
 * NODE_ENV=production the edge refuses to start while any of them is in use.
 */
export const LOCAL_WEBHOOK_SECRETS = Object.freeze({
  STRIPE_WEBHOOK_SECRET: 'whsec_test_secret_for_dev',
  SQUARE_WEBHOOK_SIGNATURE_KEY: 'sq_signature_key_for_dev',
  ADYEN_HMAC_KEY: '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056',
  BRAINTREE_PUBLIC_KEY: 'test_public_key',
  BRAINTREE_PRIVATE_KEY: 'test_private_key',
});
export const LOCAL_SQUARE_NOTIFICATION_URL = 'http://127.0.0.1:8080/webhooks/square';
export const LOCAL_BRAINTREE_MERCHANT_ID = 'test_merchant_id';

/** SUPERSET_URL (CONTRACT section 8): the dashboards' address; the local stack serves Superset on its port. */
export function supersetUrl(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.SUPERSET_URL?.trim() || `http://${d.superset.host}:${d.superset.port}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`SUPERSET_URL must be an http(s) URL, got ${JSON.stringify(env.SUPERSET_URL)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`SUPERSET_URL must be an http(s) URL, got ${JSON.stringify(env.SUPERSET_URL)}`);
  }
  return url.toString().replace(/\/$/, '');
}

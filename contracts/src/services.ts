/**
 * Addresses and defaults of CONTRACT section 2. Every process reads its addresses through here so that
 * the local stack, the services and docker-compose.yml agree on one set of ports.
 */

export const SERVICE_DEFAULTS = {
  kafka: { host: '127.0.0.1', port: 9092, controllerPort: 9093 },
  temporal: { host: '127.0.0.1', port: 7233, namespace: 'default' },
  postgres: { host: '127.0.0.1', port: 5432, database: 'payments', user: 'payments', password: 'payments' },
  redis: { host: '127.0.0.1', port: 6379 },
  edge: { port: 8080 },
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

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

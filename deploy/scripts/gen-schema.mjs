// Writes deploy/helm/values.schema.json. The schema is built here from small pieces (one definition per shape) and
// committed; `npm test -w @pep/deploy` fails when the committed file differs from what this script writes.
// Why a schema: every object is closed (additionalProperties: false), so a misspelt key or a secret written inline
// (`password: ...`) fails `helm lint`/`helm template`/`helm install` before anything reaches a cluster.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const closed = (properties, required = []) => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...(required.length ? { required } : {}),
});
const str = { type: 'string' };
const bool = { type: 'boolean' };
const int = (minimum = 0, maximum) => ({ type: 'integer', minimum, ...(maximum !== undefined ? { maximum } : {}) });
const ref = (name) => ({ $ref: `#/$defs/${name}` });
const command = { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } };

// Names a value may not have in `env`: anything that looks like a secret belongs in a Secret.
const SECRET_NAME =
  '(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|API_KEY|HMAC|SIGNATURE_KEY|ACCESS_KEY|DATABASE_URL|REDIS_URL|CATALOG_URL)';

const defs = {
  secretRef: closed({ name: str, key: { type: 'string', minLength: 1 } }, ['name', 'key']),
  certSecretRef: closed(
    { name: str, certKey: { type: 'string', minLength: 1 }, keyKey: { type: 'string', minLength: 1 } },
    ['name', 'certKey', 'keyKey'],
  ),
  quantity: {
    oneOf: [{ type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$' }, { type: 'number' }],
  },
  resources: closed(
    {
      requests: closed({ cpu: ref('quantity'), memory: ref('quantity') }, ['cpu', 'memory']),
      limits: closed({ cpu: ref('quantity'), memory: ref('quantity') }, ['memory']),
    },
    ['requests', 'limits'],
  ),
  autoscaling: closed(
    {
      enabled: bool,
      minReplicas: int(1),
      maxReplicas: int(1),
      targetCPUUtilizationPercentage: int(1, 100),
    },
    ['enabled', 'minReplicas', 'maxReplicas', 'targetCPUUtilizationPercentage'],
  ),
  pdb: closed({ enabled: bool, maxUnavailable: int(0) }, ['enabled', 'maxUnavailable']),
  env: {
    type: 'object',
    description: 'Extra non-secret environment variables; secrets come from Secrets only.',
    propertyNames: {
      pattern: '^[A-Z_][A-Z0-9_]*$',
      not: { pattern: SECRET_NAME },
    },
    additionalProperties: { type: ['string', 'number', 'boolean'] },
  },
  service: closed({ type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }, port: int(1, 65535) }, ['type', 'port']),
};

const consumer = (extra = {}) =>
  closed(
    {
      enabled: bool,
      command,
      replicas: int(0),
      metricsPort: int(1, 65535),
      heapMb: int(64, 65536),
      terminationGracePeriodSeconds: int(1, 3600),
      resources: ref('resources'),
      autoscaling: ref('autoscaling'),
      pdb: ref('pdb'),
      env: ref('env'),
      ...extra,
    },
    ['enabled', 'command', 'replicas', 'resources'],
  );

const schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'payment-event-platform chart values',
  $defs: defs,
  ...closed({
    image: closed(
      {
        repository: { type: 'string', minLength: 1 },
        tag: str,
        pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
        pullSecrets: { type: 'array', items: closed({ name: str }, ['name']) },
      },
      ['repository'],
    ),
    nodeEnv: { enum: ['production', 'development'] },
    logLevel: { enum: ['debug', 'info', 'warn', 'error'] },
    serviceAccount: closed({ create: bool, name: str, annotations: { type: 'object' } }),
    podAnnotations: { type: 'object' },
    prometheusAnnotations: bool,
    nodeSelector: { type: 'object' },
    tolerations: { type: 'array' },
    affinity: { type: 'object' },
    priorityClassName: str,
    podSecurityContext: { type: 'object' },
    containerSecurityContext: { type: 'object' },
    kafka: closed(
      {
        brokers: { type: 'string', pattern: '^[^,\\s]+:[0-9]{1,5}(,[^,\\s]+:[0-9]{1,5})*$' },
        securityProtocol: { enum: ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] },
        sasl: closed({
          mechanism: { enum: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] },
          username: str,
          passwordSecret: ref('secretRef'),
        }),
        tls: closed({ caSecret: ref('secretRef'), clientCertSecret: ref('certSecretRef') }),
        partitions: closed({ raw: int(1), normalized: int(1), dlq: int(1) }, ['raw', 'normalized', 'dlq']),
      },
      ['brokers', 'securityProtocol', 'partitions'],
    ),
    temporal: closed(
      {
        address: { type: 'string', minLength: 1 },
        namespace: { type: 'string', minLength: 1 },
        taskQueue: { type: 'string', minLength: 1 },
        tls: closed({ enabled: bool, caSecret: ref('secretRef'), clientCertSecret: ref('certSecretRef') }),
        apiKeySecret: ref('secretRef'),
      },
      ['address'],
    ),
    postgres: closed({ urlSecret: ref('secretRef'), caSecret: ref('secretRef') }, ['urlSecret']),
    redis: closed({ urlSecret: ref('secretRef'), caSecret: ref('secretRef') }, ['urlSecret']),
    trino: closed({
      url: { type: 'string', pattern: '^(https?://.+)?$' },
      user: str,
      passwordSecret: ref('secretRef'),
    }),
    mlflow: closed({ trackingUri: { type: 'string', pattern: '^(https?://.+)?$' }, tokenSecret: ref('secretRef') }),
    lake: closed({
      catalog: closed(
        {
          type: { enum: ['jdbc', 'rest'] },
          name: { type: 'string', minLength: 1 },
          urlSecret: ref('secretRef'),
          restUri: { type: 'string', pattern: '^(https?://.+)?$' },
          restWarehouse: str,
          credentialSecret: ref('secretRef'),
        },
        ['type', 'name'],
      ),
      warehouse: { type: 'string', pattern: '^(s3a?|gs|abfss?|file)://.+' },
      objectStorage: closed({
        endpoint: { type: 'string', pattern: '^(https?://.+)?$' },
        region: str,
        pathStyle: bool,
        credentialsSecret: closed(
          {
            name: str,
            accessKeyIdKey: { type: 'string', minLength: 1 },
            secretAccessKeyKey: { type: 'string', minLength: 1 },
          },
          ['name', 'accessKeyIdKey', 'secretAccessKeyKey'],
        ),
      }),
    }),
    webhookSecrets: closed({ name: { type: 'string', minLength: 1 } }, ['name']),
    edge: closed(
      {
        enabled: bool,
        command,
        replicas: int(0),
        port: int(1, 65535),
        squareNotificationUrl: { type: 'string', pattern: '^https?://.+' },
        braintreeMerchantId: str,
        maxBodyBytes: int(1024, 16777216),
        shutdownTimeoutMs: int(0, 600000),
        preStopSleepSeconds: int(0, 60),
        resources: ref('resources'),
        autoscaling: closed(
          {
            ...defs.autoscaling.properties,
            inflightMessagesPerPod: int(0),
          },
          defs.autoscaling.required,
        ),
        pdb: ref('pdb'),
        service: ref('service'),
        env: ref('env'),
      },
      ['enabled', 'command', 'replicas', 'port', 'resources'],
    ),
    transformer: consumer({ shutdownTimeoutMs: int(100, 600000) }),
    quarantine: consumer({ shutdownTimeoutMs: int(100, 600000) }),
    bridge: consumer({ maxWorkflowsPerSecond: int(1, 100000) }),
    lakeSink: consumer(),
    features: consumer(),
    worker: consumer(),
    inference: closed(
      {
        enabled: bool,
        command,
        replicas: int(0),
        port: int(1, 65535),
        heapMb: int(64, 65536),
        terminationGracePeriodSeconds: int(1, 3600),
        resources: ref('resources'),
        autoscaling: ref('autoscaling'),
        pdb: ref('pdb'),
        service: ref('service'),
        env: ref('env'),
      },
      ['enabled', 'command', 'replicas', 'port', 'resources', 'service'],
    ),
    schedules: closed({
      enabled: bool,
      taskQueue: { type: 'string', minLength: 1 },
      worker: closed(
        {
          command,
          replicas: int(0),
          metricsPort: int(1, 65535),
          heapMb: int(64, 65536),
          terminationGracePeriodSeconds: int(1, 3600),
          resources: ref('resources'),
          env: ref('env'),
        },
        ['command', 'replicas', 'metricsPort', 'resources'],
      ),
      apply: closed({ command, resources: ref('resources') }, ['command', 'resources']),
    }),
    migrations: closed({
      enabled: bool,
      steps: {
        type: 'array',
        minItems: 1,
        items: closed({ name: { type: 'string', pattern: '^[a-z0-9-]{1,40}$' }, command }, ['name', 'command']),
      },
      resources: ref('resources'),
    }),
  }),
};

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'helm', 'values.schema.json');
const text = `${JSON.stringify(schema, null, 2)}\n`;
if (process.argv.includes('--check')) {
  const { readFileSync } = await import('node:fs');
  if (readFileSync(out, 'utf8') !== text) {
    console.error(`${out} is out of date: run node deploy/scripts/gen-schema.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(out, text);
}

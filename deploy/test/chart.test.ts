/**
 * The Helm chart without a cluster: helm lint and helm template for the default and the production values, every
 * rendered object validated by kubecheck (strict decoding into k8s.io/api types plus the bundled API schema), the
 * chart's own rules (secrets only from Secrets, replicas bounded by partitions), and drift checks against the code
 * (each container's entry file exists, each variable the chart sets is one the code reads).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { RAW_TOPICS } from '@pep/contracts';
import { scoringNodeFlags } from '@pep/ml/node-flags';
import { parseAllDocuments } from 'yaml';
import {
  CHART_DIR,
  checkChart,
  DEPLOY_DIR,
  ensureTools,
  helmLint,
  helmTemplate,
  kubecheck,
  PRODUCTION_VALUES,
  type Tools,
} from '../src/chart.ts';

const REPO_ROOT = join(DEPLOY_DIR, '..');

/** A value at a path of plain objects and arrays (undefined when any step is missing). */
function dig(o: unknown, ...path: (string | number)[]): unknown {
  let v: unknown = o;
  for (const k of path)
    v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}

type EnvVar = NonNullable<Container['env']>[number];

interface K8sObject {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}
interface Container {
  name: string;
  command: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

function parse(manifests: string): K8sObject[] {
  return parseAllDocuments(manifests)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

type PodSpec = { containers: Container[]; initContainers?: Container[]; terminationGracePeriodSeconds?: number };

function podSpec(o: K8sObject): PodSpec | undefined {
  if (o.kind === 'Deployment' || o.kind === 'StatefulSet' || o.kind === 'Job') {
    return dig(o, 'spec', 'template', 'spec') as PodSpec | undefined;
  }
  if (o.kind === 'CronJob') return dig(o, 'spec', 'jobTemplate', 'spec', 'template', 'spec') as PodSpec | undefined;
  return undefined;
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} not rendered`);
  return o;
}

function containers(objects: K8sObject[]): { owner: string; c: Container }[] {
  return objects.flatMap((o) => {
    const p = podSpec(o);
    if (!p) return [];
    return [...(p.initContainers ?? []), ...p.containers].map((c) => ({ owner: `${o.kind}/${o.metadata.name}`, c }));
  });
}

function valuesFile(dir: string, name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const SECRET_LIKE =
  /SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE|API_KEY|HMAC|SIGNATURE_KEY|ACCESS_KEY|DATABASE_URL|REDIS_URL|CATALOG_URL/;

/**
 * Entry files and variables of components that other issues are building right now; they are named in CONTRACT
 * section 8 and the issues, not yet in the code. Each entry says which issue owns it, so that the merge that lands it
 * removes the entry (the test fails when a pending file or variable has arrived but is still listed).
 */
const PENDING_FILES: Readonly<Record<string, string>> = {};
const PENDING_ENV: Readonly<Record<string, string>> = {
  MLFLOW_TRACKING_TOKEN: '#18 ml',
  TRINO_PASSWORD: '#16 lakehouse',
};
/** Set by Kubernetes or the runtime, not read by name in our code. */
const RUNTIME_ENV = new Set(['NODE_ENV', 'NODE_OPTIONS', 'POD_NAME']);

/** Every variable name some TypeScript or Rust source outside deploy/ mentions. */
function variablesInCode(): Set<string> {
  const out = execFileSync(
    'git',
    ['grep', '-h', '-o', '-E', '\\b[A-Z][A-Z0-9_]{2,}\\b', '--', '*.ts', '*.rs', '*.mjs', ':!deploy/'],
    { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  return new Set(out.split('\n'));
}

let tools: Tools;
let defaults: K8sObject[];
let production: K8sObject[];
let productionText: string;
const scratch = mkdtempSync(join(tmpdir(), 'pep-chart-'));

before(async () => {
  tools = await ensureTools((m) => console.log(`# ${m}`));
  defaults = parse(checkChart(tools).manifests);
  productionText = checkChart(tools, { valuesFiles: [PRODUCTION_VALUES] }).manifests;
  production = parse(productionText);
});

describe('the chart renders and validates without a cluster', () => {
  test('values.schema.json is what deploy/scripts/gen-schema.mjs writes', () => {
    execFileSync('node', [join(DEPLOY_DIR, 'scripts', 'gen-schema.mjs'), '--check'], { stdio: 'pipe' });
  });

  test('default values: one workload per component with probes, resources and graceful termination', () => {
    const kinds = defaults.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    for (const expected of [
      'Deployment/pep-edge',
      'StatefulSet/pep-transformer',
      'Deployment/pep-quarantine',
      'Deployment/pep-bridge',
      'Deployment/pep-lake-sink',
      'Deployment/pep-features',
      'Deployment/pep-worker',
      'Deployment/pep-inference',
      'Deployment/pep-batch-worker',
      'Job/pep-migrations',
      'Job/pep-schedules-apply',
      'HorizontalPodAutoscaler/pep-edge',
      'PodDisruptionBudget/pep-edge',
      'Service/pep-edge',
      'Service/pep-inference',
      'Service/pep-transformer',
    ]) {
      assert.ok(kinds.includes(expected), `${expected} missing from ${kinds.join(', ')}`);
    }
    for (const { owner, c } of containers(defaults)) {
      assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${owner}: requests`);
      assert.ok(c.resources?.limits?.memory, `${owner}: memory limit`);
    }
    const pod = podSpec(find(defaults, 'Deployment', 'pep-edge'));
    const ct = pod?.containers[0];
    assert.equal(dig(ct, 'readinessProbe', 'httpGet', 'path'), '/readyz');
    assert.equal(dig(ct, 'livenessProbe', 'httpGet', 'path'), '/healthz');
    assert.equal(dig(ct, 'lifecycle', 'preStop', 'sleep', 'seconds'), 5);
    const drainS = Number(ct?.env?.find((e) => e.name === 'EDGE_SHUTDOWN_TIMEOUT_MS')?.value) / 1000;
    assert.ok(Number(pod?.terminationGracePeriodSeconds) > drainS + 5, 'grace period covers preStop + drain');
    const metrics = (dig(find(defaults, 'HorizontalPodAutoscaler', 'pep-edge'), 'spec', 'metrics') as unknown[]).map(
      (m) => dig(m, 'resource', 'name') ?? dig(m, 'pods', 'metric', 'name'),
    );
    assert.deepEqual(metrics, ['cpu', 'edge_inflight_messages']);
  });

  test('production values: SASL_SSL, mTLS, REST catalog, and more partitions allow more consumers', () => {
    const env = (name: string) =>
      containers(production)
        .filter(({ c }) => c.name === name)
        .flatMap(({ c }) => c.env ?? []);
    const edgeEnv = env('edge');
    assert.equal(edgeEnv.find((e) => e.name === 'KAFKA_SECURITY_PROTOCOL')?.value, 'SASL_SSL');
    assert.deepEqual(edgeEnv.find((e) => e.name === 'KAFKA_SASL_PASSWORD')?.valueFrom?.secretKeyRef, {
      name: 'pep-kafka',
      key: 'password',
    });
    assert.equal(edgeEnv.find((e) => e.name === 'KAFKA_SSL_CA_FILE')?.value, '/etc/pep/tls/kafka/ca.crt');
    const workerEnv = env('worker');
    assert.equal(
      workerEnv.find((e) => e.name === 'TEMPORAL_TLS_CERT_FILE')?.value,
      '/etc/pep/tls/temporal-client/tls.crt',
    );
    const sink = env('lake-sink');
    assert.equal(sink.find((e) => e.name === 'LAKE_CATALOG_TYPE')?.value, 'rest');
    assert.equal(sink.find((e) => e.name === 'LAKE_WAREHOUSE')?.value, 's3://acme-payments-lake/warehouse');
    assert.equal(
      sink.find((e) => e.name === 'AWS_ACCESS_KEY_ID'),
      undefined,
      'IAM role, no keys',
    );
    assert.equal(dig(find(production, 'HorizontalPodAutoscaler', 'pep-transformer'), 'spec', 'maxReplicas'), 12);
  });

  test('no secret value anywhere in the rendered manifests: only Secret references', () => {
    for (const objects of [defaults, production]) {
      assert.equal(objects.filter((o) => o.kind === 'Secret').length, 0, 'the chart creates no Secret');
      for (const { owner, c } of containers(objects)) {
        for (const e of c.env ?? []) {
          if (SECRET_LIKE.test(e.name) && !e.name.endsWith('_FILE')) {
            assert.ok(e.valueFrom?.secretKeyRef, `${owner} ${e.name} must come from a Secret, not a literal value`);
          }
        }
      }
    }
  });

  test('the transformer gets a stable transactional id per pod', () => {
    const env: EnvVar[] = podSpec(find(defaults, 'StatefulSet', 'pep-transformer'))?.containers[0]?.env ?? [];
    assert.equal(env.find((e) => e.name === 'TRANSFORMER_TRANSACTIONAL_ID')?.value, 'pep-transformer-$(POD_NAME)');
    const podName = env.findIndex((e) => e.name === 'POD_NAME');
    const txn = env.findIndex((e) => e.name === 'TRANSFORMER_TRANSACTIONAL_ID');
    assert.ok(podName >= 0 && podName < txn, 'POD_NAME is defined before it is referenced');
  });
});

describe('bad values fail before anything reaches a cluster', () => {
  /**
   * `schema`: values.schema.json rejects it, so helm lint fails too. Otherwise it is one of the chart's own rules (a
   * `fail` or `required` in a template): helm lint only logs those (lint renders leniently), helm template and helm
   * install fail.
   */
  const failsWith = (name: string, text: string, pattern: RegExp, { schema = false } = {}) => {
    const file = valuesFile(scratch, name, text);
    const rendered = helmTemplate(tools, { valuesFiles: [file] });
    assert.notEqual(rendered.code, 0, `${name} rendered:\n${rendered.stdout.slice(0, 400)}`);
    assert.match(rendered.stderr, pattern);
    if (schema) assert.notEqual(helmLint(tools, { valuesFiles: [file] }).code, 0, `${name}: helm lint passed`);
  };

  test('a password written inline in a values file', () => {
    failsWith(
      'inline-password.yaml',
      'kafka:\n  sasl:\n    password: hunter2\n',
      /additional properties 'password' not allowed|password/,
    );
  });

  test('a webhook secret as a plain env variable of a component', () => {
    failsWith(
      'inline-env-secret.yaml',
      'edge:\n  env:\n    STRIPE_WEBHOOK_SECRET: whsec_live_123\n',
      /STRIPE_WEBHOOK_SECRET/,
    );
  });

  test('a database URL with its password as a plain env variable', () => {
    failsWith(
      'inline-db-url.yaml',
      'worker:\n  env:\n    DATABASE_URL: postgres://u:p@db:5432/payments\n',
      /DATABASE_URL/,
      { schema: true },
    );
  });

  test('a misspelt field', () => {
    failsWith('misspelt.yaml', 'edge:\n  replica: 3\n', /additional properties 'replica' not allowed|replica/, {
      schema: true,
    });
  });

  test('a value of the wrong type', () => {
    failsWith('wrong-type.yaml', 'transformer:\n  replicas: three\n', /replicas/, { schema: true });
  });

  test('more transformer replicas than raw topic-partitions', () => {
    failsWith(
      'too-many.yaml',
      'transformer:\n  replicas: 37\n',
      /transformer\.replicas is 37 but its consumer groups have only 36 raw topic-partitions/,
    );
  });

  test('an autoscaler allowed past the partition count', () => {
    failsWith(
      'hpa-too-far.yaml',
      'bridge:\n  autoscaling:\n    enabled: true\n    minReplicas: 1\n    maxReplicas: 4\n    targetCPUUtilizationPercentage: 70\n',
      /bridge\.autoscaling\.maxReplicas is 4 but its consumer groups have only 3 partitions of payments\.normalized/,
    );
  });

  test('SASL without a username', () => {
    failsWith(
      'sasl-no-user.yaml',
      'kafka:\n  securityProtocol: SASL_SSL\n  sasl:\n    passwordSecret: { name: k, key: p }\n',
      /kafka\.sasl\.username is required/,
    );
  });
});

describe('kubecheck rejects invalid manifests', () => {
  const fixture = (name: string) => readFileSync(join(DEPLOY_DIR, 'test', 'fixtures', name), 'utf8');
  const rejects = (name: string, pattern: RegExp) => {
    const r = kubecheck(tools, fixture(name));
    assert.equal(r.code, 1, `${name} passed:\n${r.stdout}`);
    assert.match(r.stdout, pattern);
  };

  test('accepts a valid manifest', () => {
    const r = kubecheck(tools, fixture('valid.yaml'));
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /kubecheck: 3 objects, 0 problems/);
  });
  test('an unknown field', () => rejects('unknown-field.yaml', /unknown field "spec\.template\.spec\.contaners"/));
  test('a field of the wrong type', () => rejects('wrong-type.yaml', /replicas/));
  test('an unknown kind', () => rejects('unknown-kind.yaml', /unknown kind/));
  test('a selector that does not match its template', () =>
    rejects('bad-selector.yaml', /does not match the pod template/));
  test('a probe on an undeclared named port', () => rejects('bad-probe-port.yaml', /names port "metrics"/));
  test('a secretKeyRef without a key, an env name twice, a mount without a volume', () =>
    rejects(
      'bad-refs.yaml',
      /duplicate entries for key \[name="MODE"\][\s\S]*secretKeyRef needs a name and a key[\s\S]*set twice[\s\S]*names no volume/,
    ));
  test('an HPA whose target is not rendered, and requests above limits', () =>
    rejects('bad-hpa.yaml', /above its limit[\s\S]*scaleTargetRef Deployment\/missing/));
  test('no objects at all', () => {
    const r = kubecheck(tools, '# nothing\n');
    assert.equal(r.code, 1);
  });
});

/** A memory quantity (Ki, Mi, Gi) in MiB. */
function mib(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi)$/.exec(q);
  assert.ok(m, `unsupported memory quantity ${q}`);
  return Number(m[1]) * { Ki: 1 / 1024, Mi: 1, Gi: 1024 }[m[2] as 'Ki' | 'Mi' | 'Gi'];
}

describe('the chart matches the code', () => {
  test('memory requests cover the measured peak RSS of each process, limits 1.5 times it', () => {
    const measured = JSON.parse(readFileSync(join(DEPLOY_DIR, 'measured', 'resources.json'), 'utf8')) as {
      components: Record<string, { rss_peak_mib: number; command: string[] }>;
    };
    const checked: string[] = [];
    for (const [name, m] of Object.entries(measured.components)) {
      const container = containers(defaults).find(({ c }) => c.name === name)?.c;
      assert.ok(container, `measured ${name}, but the chart has no container of that name`);
      assert.deepEqual(container.command, m.command, `${name} was measured with another command than the chart's`);
      const request = mib(container.resources?.requests?.memory ?? '0Mi');
      const limit = mib(container.resources?.limits?.memory ?? '0Mi');
      assert.ok(request >= m.rss_peak_mib, `${name}: request ${request} MiB < measured peak ${m.rss_peak_mib} MiB`);
      assert.ok(
        limit >= 1.5 * m.rss_peak_mib,
        `${name}: limit ${limit} MiB < 1.5 x measured peak ${m.rss_peak_mib} MiB`,
      );
      checked.push(name);
    }
    assert.deepEqual(checked.sort(), [
      'batch-worker',
      'bridge',
      'edge',
      'features',
      'inference',
      'lake-sink',
      'quarantine',
      'transformer',
      'worker',
    ]);
  });

  test('the processes that score fraud run with the V8 flags npm start gives them (ML_SCORING_NODE_FLAGS)', () => {
    // scripts/start.ts puts scoringNodeFlags() on the command lines of the inference service and the payment lane's
    // worker; the chart's worker serves the payment lane too
    const flags = scoringNodeFlags({});
    assert.ok(flags.length > 0);
    for (const objects of [defaults, production]) {
      for (const name of ['inference', 'worker']) {
        const c = containers(objects).find(({ c }) => c.name === name)?.c;
        assert.ok(c, `the chart has no ${name} container`);
        assert.deepEqual(c.command.slice(0, 1 + flags.length), ['node', ...flags], `${name}: ${c.command.join(' ')}`);
      }
      for (const { owner, c } of containers(objects)) {
        if (['inference', 'worker'].includes(c.name)) continue;
        for (const f of flags) assert.ok(!c.command.includes(f), `${owner} is not a scoring process but has ${f}`);
      }
    }
  });

  test('the partition bound counts every raw topic of contracts', () => {
    const n = Object.keys(RAW_TOPICS).length;
    assert.match(
      readFileSync(join(CHART_DIR, 'templates', '_helpers.tpl'), 'utf8'),
      new RegExp(`mul \\$p\\.raw ${n} `),
    );
  });

  test("every container's entry file exists in the repository (or is pending in another issue)", () => {
    const pendingArrived: string[] = [];
    for (const objects of [defaults, production]) {
      for (const { owner, c } of containers(objects)) {
        const file = c.command.find((a) => /\.(ts|js|mjs)$/.test(a));
        assert.ok(file, `${owner}: no entry file in ${c.command.join(' ')}`);
        if (PENDING_FILES[file]) {
          if (existsSync(join(REPO_ROOT, file))) pendingArrived.push(file);
          continue;
        }
        assert.ok(existsSync(join(REPO_ROOT, file)), `${owner} runs ${file}, which does not exist`);
      }
    }
    assert.deepEqual([...new Set(pendingArrived)], [], 'these files landed: remove them from PENDING_FILES');
  });

  test('every variable the chart sets is read by the code (or is pending in another issue)', () => {
    const known = variablesInCode();
    const unknown = new Set<string>();
    const arrived = new Set<string>();
    for (const objects of [defaults, production]) {
      for (const { c } of containers(objects)) {
        for (const e of c.env ?? []) {
          if (RUNTIME_ENV.has(e.name)) continue;
          if (PENDING_ENV[e.name]) {
            if (known.has(e.name)) arrived.add(e.name);
          } else if (!known.has(e.name)) unknown.add(e.name);
        }
      }
    }
    assert.deepEqual([...unknown], [], 'variables no code reads (typo, or renamed in the code?)');
    assert.deepEqual([...arrived], [], 'these variables are read by the code now: remove them from PENDING_ENV');
  });
});

/**
 * Several instances of the platform's processes on one machine, each started with the command the chart gives its
 * container (values.yaml) and the environment the chart sets (its own metrics port, a stable transactional id per
 * transformer ordinal like the StatefulSet's), so that tests and benchmarks exercise the chart's configuration
 * without a cluster. Instances can be killed (any signal) and restarted with the same identity, like a pod.
 * Not a process supervisor for production.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { seriesSum } from '@pep/contracts/metrics';
import { parse } from 'yaml';
import { CHART_DIR, DEPLOY_DIR } from './chart.ts';

export const REPO_ROOT = join(DEPLOY_DIR, '..');

export type ComponentName = 'edge' | 'transformer' | 'quarantine' | 'bridge' | 'worker' | 'inference';

interface ComponentDef {
  /** Variable carrying the instance's HTTP/metrics port, its base port (ordinal i gets base + i) and the probe path. */
  readonly portEnv: string;
  readonly basePort: number;
  readonly ready: string;
  readonly env?: (ordinal: number) => Record<string, string>;
}

/** Ports away from the local defaults, so a cluster runs beside the usual single instances. */
const COMPONENTS: Readonly<Record<ComponentName, ComponentDef>> = {
  edge: { portEnv: 'EDGE_PORT', basePort: 18081, ready: '/readyz', env: () => ({ EDGE_HOST: '127.0.0.1' }) },
  transformer: {
    portEnv: 'TRANSFORMER_METRICS_PORT',
    basePort: 19464,
    ready: '/healthz',
    // The chart: pep-transformer-$(POD_NAME), stable per StatefulSet ordinal.
    env: (i) => ({ TRANSFORMER_TRANSACTIONAL_ID: `pep-transformer-${i}` }),
  },
  quarantine: { portEnv: 'QUARANTINE_METRICS_PORT', basePort: 19474, ready: '/healthz' },
  bridge: { portEnv: 'BRIDGE_METRICS_PORT', basePort: 19484, ready: '/healthz' },
  worker: { portEnv: 'WORKER_METRICS_PORT', basePort: 19494, ready: '/metrics' },
  inference: {
    portEnv: 'INFERENCE_PORT',
    basePort: 18090,
    ready: '/health',
    env: () => ({ INFERENCE_HOST: '127.0.0.1' }),
  },
};

/** The chart's `command` of a component (values.yaml). */
export function chartCommand(component: ComponentName): string[] {
  const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, { command?: string[] }>;
  const command = values[component]?.command;
  if (!command?.length) throw new Error(`values.yaml has no ${component}.command`);
  return command;
}

export interface Instance {
  readonly component: ComponentName;
  readonly ordinal: number;
  readonly port: number;
  readonly url: string;
  child: ChildProcess;
  /** Starts of this instance (1 + restarts). */
  starts: number;
}

export interface ClusterOptions {
  /** Extra environment for every instance (e.g. INFERENCE_URL, topic overrides). */
  readonly env?: Record<string, string>;
  readonly logDir?: string;
  /** Added to every instance's port, so that two clusters (a test and a benchmark) run side by side. Default 0. */
  readonly portOffset?: number;
}

export class LocalCluster {
  readonly instances: Instance[] = [];
  private stopping = false;

  constructor(private readonly options: ClusterOptions = {}) {}

  private spawnInstance(component: ComponentName, ordinal: number): ChildProcess {
    const def = COMPONENTS[component];
    const [cmd, ...args] = chartCommand(component);
    const bin = cmd === 'bun' ? join(REPO_ROOT, 'node_modules', '.bin', 'bun') : (cmd as string);
    const logDir = this.options.logDir ?? join(REPO_ROOT, '.stack', 'logs', 'cluster');
    mkdirSync(logDir, { recursive: true });
    const fd = openSync(join(logDir, `${component}-${ordinal}.log`), 'a');
    return spawn(bin, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', fd, fd],
      env: {
        ...process.env,
        ...this.options.env,
        ...def.env?.(ordinal),
        [def.portEnv]: String(this.portOf(component, ordinal)),
      },
    });
  }

  private portOf(component: ComponentName, ordinal: number): number {
    return COMPONENTS[component].basePort + (this.options.portOffset ?? 0) + ordinal;
  }

  /** Starts `count` instances of a component (ordinals continue after existing ones) and waits until each is ready. */
  async start(component: ComponentName, count: number): Promise<Instance[]> {
    const first = this.instances.filter((i) => i.component === component).length;
    const started: Instance[] = [];
    for (let ordinal = first; ordinal < first + count; ordinal++) {
      const port = this.portOf(component, ordinal);
      const inst: Instance = {
        component,
        ordinal,
        port,
        url: `http://127.0.0.1:${port}`,
        child: this.spawnInstance(component, ordinal),
        starts: 1,
      };
      this.instances.push(inst);
      started.push(inst);
    }
    await Promise.all(started.map((i) => this.waitReady(i)));
    return started;
  }

  async waitReady(inst: Instance, timeoutMs = 180_000): Promise<void> {
    const def = COMPONENTS[inst.component];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (inst.child.exitCode !== null || inst.child.signalCode !== null) {
        throw new Error(`${inst.component}-${inst.ordinal} exited during start-up (see .stack/logs/cluster)`);
      }
      const ok = await fetch(`${inst.url}${def.ready}`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await sleep(250);
    }
    throw new Error(`${inst.component}-${inst.ordinal} not ready at ${inst.url}${def.ready}`);
  }

  find(component: ComponentName, ordinal: number): Instance {
    const inst = this.instances.find((i) => i.component === component && i.ordinal === ordinal);
    if (!inst) throw new Error(`no instance ${component}-${ordinal}`);
    return inst;
  }

  /** Sends `signal` and waits for the process to exit (bounded). */
  async kill(inst: Instance, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 60_000): Promise<void> {
    if (inst.child.exitCode !== null || inst.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => inst.child.once('exit', () => r()));
    inst.child.kill(signal);
    // ref: false: the bound does not keep the process alive once the child exited (a ref'd 60 s timer held every
    // test file that stops a cluster for up to a minute after its last test); the running child does meanwhile
    const outcome = await Promise.race([exited.then(() => 'exited'), sleep(timeoutMs, 'timeout', { ref: false })]);
    if (outcome === 'timeout') {
      inst.child.kill('SIGKILL');
      await exited;
    }
  }

  /** Starts a stopped instance again with the same ordinal (same port, same transactional id) and waits for it. */
  async restart(inst: Instance): Promise<void> {
    if (this.stopping) return;
    inst.child = this.spawnInstance(inst.component, inst.ordinal);
    inst.starts++;
    await this.waitReady(inst);
  }

  /** SIGTERM to every instance (graceful, like a pod deletion), SIGKILL after the bound. */
  async stopAll(timeoutMs = 30_000): Promise<void> {
    this.stopping = true;
    await Promise.all(this.instances.map((i) => this.kill(i, 'SIGTERM', timeoutMs)));
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; null once it is gone. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

/** Resident memory in MiB, from /proc/<pid>/status; null once it is gone. */
export function rssMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const kib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Number.isFinite(kib) ? kib / 1024 : null;
  } catch {
    return null;
  }
}

/** Sum of a Prometheus counter over its series (optionally only lines containing `filter`) from a /metrics page. */
export async function scrapeCounter(url: string, name: string, filter = ''): Promise<number | null> {
  try {
    const page = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    return seriesSum(page, name, filter) ?? 0;
  } catch {
    return null;
  }
}

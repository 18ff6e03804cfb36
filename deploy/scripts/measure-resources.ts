/**
 * Measures the resident memory and CPU of every platform process on the local stack, each started with exactly the
 * command and environment the chart gives its container (values.yaml `command`, the port and host variables), under
 * simulated traffic at a fixed rate; writes deploy/measured/resources.json. The chart's requests and limits come from
 * these figures (deploy/test/chart.test.ts checks that they cover them).
 *
 * How: each process is spawned directly (no npm or tsx wrapper process in between, so its pid is the process itself);
 * every second its RSS (VmRSS in /proc/<pid>/status) and CPU time (utime + stime in /proc/<pid>/stat) are read. Idle
 * = the 10 s before traffic; load = the traffic window. CPU µs per event divides a process's CPU time during the
 * window by the events the simulator got accepted.
 *
 * Every process must have done its work, or the run fails instead of writing a figure: after the traffic it samples on
 * until each component's work counter (its own /metrics) has held still for 10 s (the lake sink commits every 10 s),
 * then requires that counter to have grown during the window (the batch worker excepted: its steps run on schedules,
 * so its figure is start-up and idle memory). A process that exits, a port already taken by another process, a
 * simulator that fails or gets nothing accepted, an empty sample series: each is an error naming the log to read.
 *
 * Needs (in the namespace, STACK_DIR as for the stack):
 *   npm run stack:up -- --only kafka,postgres,redis,temporal,mlflow   (or the full stack; Trino/Superset are unused)
 *   npm run build -w @pep/core-native && npm run build:lake -w @pep/core-native   (the transformer's and the sink's addons)
 *   npm run migrate -w @pep/pipeline && npm run migrate -w @pep/workflows && npm run migrate -w @pep/orchestration
 * MLflow without a registered champion is fine (fraud and churn score with the rules); with one, the worker and the
 * inference service load it, which is the figure to prefer (`npm run train` once the features log has history).
 *
 * Run:  nsN npx tsx deploy/scripts/measure-resources.ts [--rate 300] [--duration 60] [--time-scale 1]
 * (each run sends a fresh simulator seed: the same event ids again would be deduplicated, and the consumers idle).
 * Not for CI: it runs for minutes, and on a shared machine the CPU figures carry the other processes' noise.
 * Service logs: .stack/logs/measure-<component>.log (STACK_DIR moves .stack).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { seriesSum } from '@pep/contracts/metrics';
import { logFile } from '@pep/stack/paths';
import { parse } from 'yaml';
import { CHART_DIR, DEPLOY_DIR } from '../src/chart.ts';

const REPO = join(DEPLOY_DIR, '..');
const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const RATE = opt('rate', 300);
const DURATION_S = opt('duration', 60);
/** Passed to the simulator: 5000 lets disputes and churn arrive while it runs, the labels `npm run train` needs. */
const TIME_SCALE = opt('time-scale', 1);
const IDLE_S = 10;
const CLK_TCK = 100;

interface Component {
  readonly name: string;
  readonly valuesKey: string;
  readonly env: Record<string, string>;
  readonly ready: string;
  /** Its Prometheus page: the work counter and, for Node processes, the V8 heap in use (nodejs_heap_size_used_bytes). */
  readonly metrics: string;
  /**
   * The counter on that page (summed over its labels; a histogram's `_count`) that must grow under the traffic, or
   * the reason the component may stay idle.
   */
  readonly work: { readonly counter: string } | { readonly idle: string };
}

const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;

/** The processes that exist today, with the chart's port variables (consumers listen on 0.0.0.0 in a pod). */
const COMPONENTS: Component[] = [
  {
    name: 'inference',
    valuesKey: 'inference',
    env: { INFERENCE_HOST: '127.0.0.1' },
    ready: 'http://127.0.0.1:8090/health',
    metrics: 'http://127.0.0.1:8090/metrics',
    work: { counter: 'inference_batch_size_count' },
  },
  {
    name: 'worker',
    valuesKey: 'worker',
    env: {},
    ready: 'http://127.0.0.1:9467/metrics',
    metrics: 'http://127.0.0.1:9467/metrics',
    work: { counter: 'temporal_workflow_completed_total' },
  },
  {
    name: 'quarantine',
    valuesKey: 'quarantine',
    env: {},
    ready: 'http://127.0.0.1:9465/healthz',
    metrics: 'http://127.0.0.1:9465/metrics',
    work: { counter: 'quarantine_rows_total' },
  },
  {
    name: 'transformer',
    valuesKey: 'transformer',
    env: {},
    ready: 'http://127.0.0.1:9464/healthz',
    metrics: 'http://127.0.0.1:9464/metrics',
    work: { counter: 'transformer_output_records_total' },
  },
  {
    name: 'bridge',
    valuesKey: 'bridge',
    env: {},
    ready: 'http://127.0.0.1:9466/healthz',
    metrics: 'http://127.0.0.1:9466/metrics',
    work: { counter: 'bridge_messages_committed_total' },
  },
  {
    name: 'edge',
    valuesKey: 'edge',
    env: {},
    ready: 'http://127.0.0.1:8080/readyz',
    metrics: 'http://127.0.0.1:8080/metrics',
    work: { counter: 'edge_http_requests_total' },
  },
  {
    name: 'lake-sink',
    valuesKey: 'lakeSink',
    env: {},
    ready: 'http://127.0.0.1:9470/healthz',
    metrics: 'http://127.0.0.1:9470/metrics',
    work: { counter: 'lake_sink_rows_committed_total' },
  },
  {
    name: 'features',
    valuesKey: 'features',
    env: {},
    ready: 'http://127.0.0.1:9469/healthz',
    metrics: 'http://127.0.0.1:9469/metrics',
    work: { counter: 'features_events_total' },
  },
  {
    name: 'batch-worker',
    valuesKey: 'schedules.worker',
    env: {},
    ready: 'http://127.0.0.1:9468/healthz',
    metrics: 'http://127.0.0.1:9468/metrics',
    work: { idle: 'its steps run on Temporal schedules, not on webhook traffic: start-up and idle memory' },
  },
];

/** A component's values entry by its dotted key (`schedules.worker`). */
function valuesOf(key: string): { command: string[] } | undefined {
  let v: unknown = values;
  for (const part of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
  return v as { command: string[] } | undefined;
}

interface Sample {
  rssKiB: number;
  cpuTicks: number;
}

function sample(pid: number): Sample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rssKiB: rss, cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

async function waitReady(url: string, child: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.signalCode ?? child.exitCode}) during start-up:\n${tail(name)}`);
    }
    if (
      await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await sleep(500);
  }
  throw new Error(`${name} not ready at ${url} after 120 s:\n${tail(name)}`);
}

const logOf = (name: string) => logFile(`measure-${name}`);

/** The last lines of a component's log, for an error message. */
function tail(name: string, lines = 12): string {
  try {
    const text = readFileSync(logOf(name), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    return `--- last lines of ${logOf(name)}\n${text}`;
  } catch {
    return `(no log at ${logOf(name)})`;
  }
}

/** Is something already listening at the URL's host and port (another process would answer our readiness probe)? */
async function taken(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(1000) }).then(
    () => true,
    (err: unknown) => !/ECONNREFUSED/.test(String((err as { cause?: unknown }).cause ?? err)),
  );
}

/** Peak V8 heap in use per component, from its /metrics (absent for the edge on Bun, which does not export it). */
const heapPeak = new Map<string, number>();

/**
 * Reads every component's page: returns each working component's work counter (an absent series counts as 0: a
 * counter appears with its first event) and records the V8 heap in use. A page that does not answer in 5 s (the
 * worker's page reads Temporal's runtime exporter, slow on a loaded machine) is retried twice, then is an error.
 */
async function workCounters(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const c of COMPONENTS) {
    let page: string | null = null;
    let lastError: unknown;
    for (let attempt = 0; attempt < 3 && page === null; attempt++) {
      page = await fetch(c.metrics, { signal: AbortSignal.timeout(5000) }).then(
        (r) => (r.ok ? r.text() : Promise.reject(new Error(`HTTP ${r.status}`))),
        (err: unknown) => {
          lastError = err;
          return null;
        },
      );
    }
    if (page === null) throw new Error(`${c.name}: ${c.metrics} unreadable (3 attempts): ${String(lastError)}`);
    const heap = seriesSum(page, 'nodejs_heap_size_used_bytes');
    if (heap !== null) heapPeak.set(c.name, Math.max(heapPeak.get(c.name) ?? 0, heap));
    if ('counter' in c.work) out.set(c.name, seriesSum(page, c.work.counter) ?? 0);
  }
  return out;
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Max wait after the traffic for the consumers to finish (their work counters holding still for QUIET_S). */
const DRAIN_MAX_S = 150;
const DRAIN_MIN_S = 15;
const QUIET_S = 10;

async function main(): Promise<void> {
  mkdirSync(join(logFile('x'), '..'), { recursive: true });
  const children = new Map<string, ChildProcess>();
  /** A component that exits after start-up: the run fails (its figures would silently stop at its last sample). */
  let died: string | null = null;
  let stopping = false;
  const stopAll = () => {
    stopping = true;
    for (const c of children.values()) c.kill('SIGTERM');
  };
  process.on('SIGINT', () => {
    stopAll();
    process.exit(130);
  });
  const alive = () => {
    if (died) throw new Error(died);
  };
  try {
    for (const c of COMPONENTS) {
      const [cmd, ...rest] = valuesOf(c.valuesKey)?.command ?? [];
      if (!cmd) throw new Error(`values.yaml has no ${c.valuesKey}.command`);
      if (await taken(c.ready)) {
        throw new Error(`${c.name}: ${new URL(c.ready).host} already answers (another process; stop it first)`);
      }
      const bin = cmd === 'bun' ? join(REPO, 'node_modules', '.bin', 'bun') : cmd;
      const fd = openSync(logOf(c.name), 'a');
      const child = spawn(bin, rest, { cwd: REPO, env: { ...process.env, ...c.env }, stdio: ['ignore', fd, fd] });
      children.set(c.name, child);
      child.once('exit', (code, signal) => {
        if (!stopping)
          died ??= `${c.name} exited (${signal ?? `code ${code}`}) during the measurement:\n${tail(c.name)}`;
      });
      await waitReady(c.ready, child, c.name);
      console.error(`measure: ${c.name} ready (pid ${child.pid}: ${cmd} ${rest.join(' ')})`);
    }
    const pids = [...children].map(([name, c]) => [name, c.pid as number] as const);
    const series = new Map<string, { idle: Sample[]; load: Sample[] }>(pids.map(([n]) => [n, { idle: [], load: [] }]));
    const tick = (phase: 'idle' | 'load') => {
      alive();
      for (const [name, pid] of pids) {
        const s = sample(pid);
        if (!s) throw new Error(`${name} (pid ${pid}): /proc unreadable, the process is gone:\n${tail(name)}`);
        series.get(name)?.[phase].push(s);
      }
    };
    for (let i = 0; i < IDLE_S; i++) {
      tick('idle');
      await sleep(1000);
    }
    const workBefore = await workCounters();
    console.error(`measure: traffic ${RATE} events/s for ${DURATION_S} s`);
    const sim = spawn(
      join(REPO, 'node_modules', '.bin', 'tsx'),
      [
        'simulator/src/cli.ts',
        '--rate',
        String(RATE),
        '--duration',
        String(DURATION_S),
        '--time-scale',
        String(TIME_SCALE),
        '--seed',
        String(Date.now() % 2 ** 31),
        '--quiet',
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.set('simulator', sim);
    let simOut = '';
    sim.stdout.on('data', (d: Buffer) => {
      simOut += d.toString();
    });
    const simDone = new Promise<number>((r) => sim.once('close', (code) => r(code ?? 1)));
    let done = false;
    void simDone.then(() => {
      done = true;
      children.delete('simulator');
    });
    const loadStarted = Date.now();
    let scraping = false;
    tick('load');
    for (let i = 1; !done; i++) {
      await sleep(1000);
      tick('load');
      // The heap, every 10 s, best effort and in the background (a page slow under load must not delay RSS samples).
      if (i % 10 === 0 && !scraping) {
        scraping = true;
        void workCounters()
          .catch(() => undefined)
          .finally(() => {
            scraping = false;
          });
      }
    }
    const simExit = await simDone;
    if (simExit !== 0) throw new Error(`the simulator failed (exit ${simExit}); its stdout:\n${simOut.slice(-2000)}`);
    let summary: Record<string, unknown>;
    try {
      summary = JSON.parse(simOut.trim().split('\n').pop() ?? '') as Record<string, unknown>;
    } catch {
      throw new Error(`the simulator printed no JSON summary; its stdout:\n${simOut.slice(-2000)}`);
    }
    const accepted = Number((summary.by_status as Record<string, number> | undefined)?.['200'] ?? 0);
    if (!(accepted > 0)) {
      throw new Error(
        `the edge accepted no webhook (by_status ${JSON.stringify(summary.by_status)}):\n${tail('edge')}`,
      );
    }
    const trafficS = (Date.now() - loadStarted) / 1000;
    // The consumers catch up after the last request: keep sampling until every work counter held still for QUIET_S
    // (at least DRAIN_MIN_S, at most DRAIN_MAX_S).
    const drainStarted = Date.now();
    let last = await workCounters();
    let stillSince = Date.now();
    let drained = false;
    while (Date.now() - drainStarted < DRAIN_MAX_S * 1000) {
      await sleep(1000);
      tick('load');
      const now = await workCounters();
      if ([...now].some(([k, v]) => last.get(k) !== v)) stillSince = Date.now();
      last = now;
      if (Date.now() - drainStarted >= DRAIN_MIN_S * 1000 && Date.now() - stillSince >= QUIET_S * 1000) {
        drained = true;
        break;
      }
    }
    if (!drained) console.error(`measure: WARNING the consumers were still working ${DRAIN_MAX_S} s after the traffic`);
    const work: Record<string, number> = {};
    const idleWork: string[] = [];
    for (const c of COMPONENTS) {
      if (!('counter' in c.work)) continue;
      const delta = (last.get(c.name) ?? 0) - (workBefore.get(c.name) ?? 0);
      work[c.name] = delta;
      if (!(delta > 0)) idleWork.push(`${c.name}: ${c.work.counter} did not grow\n${tail(c.name, 6)}`);
    }
    if (idleWork.length > 0) {
      throw new Error(
        `these processes did no work under the traffic, so their figures are idle ones:\n${idleWork.join('\n')}`,
      );
    }
    // The real window: on a loaded machine the simulator may need longer than --duration for its events.
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    const out: Record<string, unknown> = {};
    for (const [name, { idle, load }] of series) {
      const first = load[0];
      const lastSample = load.at(-1);
      if (idle.length === 0 || !first || !lastSample || load.length < 2) {
        throw new Error(`${name}: not enough samples (idle ${idle.length}, load ${load.length})`);
      }
      const cpuS = (lastSample.cpuTicks - first.cpuTicks) / CLK_TCK;
      const c = COMPONENTS.find((x) => x.name === name);
      out[name] = {
        rss_idle_mib: Math.round(Math.max(...idle.map((s) => s.rssKiB)) / 1024),
        rss_peak_mib: Math.round(Math.max(...load.map((s) => s.rssKiB), ...idle.map((s) => s.rssKiB)) / 1024),
        cpu_cores_avg_under_load: Number((cpuS / loadSeconds).toFixed(3)),
        cpu_us_per_event: Number(((cpuS * 1e6) / accepted).toFixed(1)),
        ...(heapPeak.has(name) ? { heap_used_peak_mib: Math.round((heapPeak.get(name) ?? 0) / 2 ** 20) } : {}),
        ...(c && 'counter' in c.work
          ? { work: { counter: c.work.counter, delta: work[name] } }
          : { idle_by_design: c && 'idle' in c.work ? c.work.idle : '' }),
        command: valuesOf(c?.valuesKey ?? '')?.command,
      };
    }
    const result = {
      what: 'RSS and CPU of each platform process on the local stack under simulated traffic (deploy/scripts/measure-resources.ts)',
      commit: commit(),
      measured_at: new Date().toISOString(),
      machine: `${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
      load_average_1m: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
      rate_events_per_s: RATE,
      duration_s: DURATION_S,
      time_scale: TIME_SCALE,
      traffic_window_s: Number(trafficS.toFixed(1)),
      load_window_s: Number(loadSeconds.toFixed(1)),
      drained,
      simulator: { exit: simExit, summary },
      components: out,
    };
    mkdirSync(join(DEPLOY_DIR, 'measured'), { recursive: true });
    writeFileSync(join(DEPLOY_DIR, 'measured', 'resources.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result.components, null, 2));
  } finally {
    stopAll();
    await sleep(3000);
  }
}

main().catch((err: unknown) => {
  console.error(`measure: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

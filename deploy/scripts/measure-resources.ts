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
 * Run (stack up first):  nsN npx tsx deploy/scripts/measure-resources.ts [--rate 300] [--duration 60]
 * Not for CI: it runs for minutes, and on a shared machine the CPU figures carry the other processes' noise.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
const IDLE_S = 10;
const CLK_TCK = 100;

interface Component {
  readonly name: string;
  readonly valuesKey: string;
  readonly env: Record<string, string>;
  readonly ready: string;
}

const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;

/** The processes that exist today, with the chart's port variables (consumers listen on 0.0.0.0 in a pod). */
const COMPONENTS: Component[] = [
  {
    name: 'inference',
    valuesKey: 'inference',
    env: { INFERENCE_HOST: '127.0.0.1' },
    ready: 'http://127.0.0.1:8090/health',
  },
  { name: 'worker', valuesKey: 'worker', env: {}, ready: 'http://127.0.0.1:9467/metrics' },
  { name: 'quarantine', valuesKey: 'quarantine', env: {}, ready: 'http://127.0.0.1:9465/healthz' },
  { name: 'transformer', valuesKey: 'transformer', env: {}, ready: 'http://127.0.0.1:9464/healthz' },
  { name: 'bridge', valuesKey: 'bridge', env: {}, ready: 'http://127.0.0.1:9466/healthz' },
  { name: 'edge', valuesKey: 'edge', env: {}, ready: 'http://127.0.0.1:8080/readyz' },
  { name: 'lake-sink', valuesKey: 'lakeSink', env: {}, ready: 'http://127.0.0.1:9470/healthz' },
  { name: 'features', valuesKey: 'features', env: {}, ready: 'http://127.0.0.1:9469/healthz' },
  // Idle under webhook traffic (its steps run on schedules): its figure is start-up and idle memory.
  { name: 'batch-worker', valuesKey: 'schedules.worker', env: {}, ready: 'http://127.0.0.1:9468/healthz' },
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
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}) during start-up`);
    if (
      await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await sleep(500);
  }
  throw new Error(`${name} not ready at ${url}`);
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const logs = join(REPO, '.stack', 'logs');
  mkdirSync(logs, { recursive: true });
  const children = new Map<string, ChildProcess>();
  const stopAll = () => {
    for (const c of children.values()) c.kill('SIGTERM');
  };
  process.on('SIGINT', () => {
    stopAll();
    process.exit(130);
  });
  try {
    for (const c of COMPONENTS) {
      const [cmd, ...rest] = valuesOf(c.valuesKey)?.command ?? [];
      if (!cmd) throw new Error(`values.yaml has no ${c.valuesKey}.command`);
      const bin = cmd === 'bun' ? join(REPO, 'node_modules', '.bin', 'bun') : cmd;
      const fd = openSync(join(logs, `measure-${c.name}.log`), 'a');
      const child = spawn(bin, rest, { cwd: REPO, env: { ...process.env, ...c.env }, stdio: ['ignore', fd, fd] });
      children.set(c.name, child);
      await waitReady(c.ready, child, c.name);
      console.error(`measure: ${c.name} ready (pid ${child.pid}: ${cmd} ${rest.join(' ')})`);
    }
    const pids = [...children].map(([name, c]) => [name, c.pid as number] as const);
    const series = new Map<string, { idle: Sample[]; load: Sample[] }>(pids.map(([n]) => [n, { idle: [], load: [] }]));
    const tick = (phase: 'idle' | 'load') => {
      for (const [name, pid] of pids) {
        const s = sample(pid);
        if (s) series.get(name)?.[phase].push(s);
      }
    };
    for (let i = 0; i < IDLE_S; i++) {
      tick('idle');
      await sleep(1000);
    }
    console.error(`measure: traffic ${RATE} events/s for ${DURATION_S} s`);
    const sim = spawn(
      join(REPO, 'node_modules', '.bin', 'tsx'),
      ['simulator/src/cli.ts', '--rate', String(RATE), '--duration', String(DURATION_S), '--quiet'],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let simOut = '';
    sim.stdout.on('data', (d: Buffer) => {
      simOut += d.toString();
    });
    const simDone = new Promise<number>((r) => sim.once('close', (code) => r(code ?? 1)));
    let done = false;
    void simDone.then(() => {
      done = true;
    });
    const loadStarted = Date.now();
    tick('load');
    while (!done) {
      await sleep(1000);
      tick('load');
    }
    // The consumers catch up after the last request: keep sampling while they drain (bounded).
    for (let i = 0; i < 15; i++) {
      await sleep(1000);
      tick('load');
    }
    const summary = JSON.parse(simOut.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    const accepted = Number((summary.by_status as Record<string, number> | undefined)?.['200'] ?? summary.sent ?? 0);
    // The real window: on a loaded machine the simulator may need longer than --duration for its events.
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    const out: Record<string, unknown> = {};
    for (const [name, { idle, load }] of series) {
      const first = load[0];
      const last = load.at(-1);
      const cpuS = first && last ? (last.cpuTicks - first.cpuTicks) / CLK_TCK : 0;
      out[name] = {
        rss_idle_mib: Math.round(Math.max(...idle.map((s) => s.rssKiB)) / 1024),
        rss_peak_mib: Math.round(Math.max(...load.map((s) => s.rssKiB), ...idle.map((s) => s.rssKiB)) / 1024),
        cpu_cores_avg_under_load: Number((cpuS / loadSeconds).toFixed(3)),
        cpu_us_per_event: accepted > 0 ? Number(((cpuS * 1e6) / accepted).toFixed(1)) : null,
        command: valuesOf(COMPONENTS.find((c) => c.name === name)?.valuesKey ?? '')?.command,
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
      load_window_s: Number(loadSeconds.toFixed(1)),
      simulator: { exit: await simDone, summary },
      components: out,
    };
    mkdirSync(join(DEPLOY_DIR, 'measured'), { recursive: true });
    writeFileSync(join(DEPLOY_DIR, 'measured', 'resources.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result.components, null, 2));
  } finally {
    stopAll();
    await sleep(2000);
  }
}

main().catch((err: unknown) => {
  console.error(`measure: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

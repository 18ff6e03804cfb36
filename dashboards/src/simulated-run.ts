/**
 * A short simulated run of the whole platform, as a user starts it: `npm start -- --rate … --duration …` (stack,
 * migrations, dashboards provisioned, every service, signed webhooks from all four providers with invalid payloads
 * and bad signatures mixed in, drained, reconciled). Resolves once the platform says it is running after the report,
 * with everything it printed; `stop()` ends it with Ctrl-C (SIGINT to its process group), as a user would.
 *
 * For the browser tests and the dashboards benchmark, which need real pipeline data in PostgreSQL. Not a way to run
 * the platform in production.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '@pep/stack/paths';

/** The line start.ts prints once the report is out and the platform keeps running. */
const RUNNING_LINE = 'platform still running; Ctrl-C stops everything';
const MAX_OUTPUT_CHARS = 2 * 1024 * 1024;

export interface SimulatedRunOptions {
  readonly rate?: number;
  readonly durationS?: number;
  /** Bound on the whole start (install checks, builds, service start-up, traffic, drain). Default 15 minutes. */
  readonly timeoutMs?: number;
  readonly onLine?: (line: string) => void;
}

export interface SimulatedRun {
  /** Everything `npm start` printed up to the running line. */
  readonly output: string;
  stop(): Promise<void>;
}

export async function simulatedRun(opts: SimulatedRunOptions = {}): Promise<SimulatedRun> {
  const args = [
    'start',
    '--',
    '--rate',
    String(opts.rate ?? 20),
    '--duration',
    String(opts.durationS ?? 10),
    // Enough faults that the DLQ and quarantine panels have something to show in a short run (at 0.1 the chance of
    // no validation failure in 200 deliveries is below 1e-4).
    '--invalid-rate',
    '0.1',
    '--signature-fault-rate',
    '0.03',
    '--duplicate-rate',
    '0.03',
  ];
  const child: ChildProcess = spawn('npm', args, {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  let output = '';
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const stop = async () => {
    if (exited !== undefined || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGINT');
    } catch {}
    const done = await Promise.race([exit.then(() => true), sleep(120_000, false, { ref: false })]);
    if (!done) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
      await exit;
    }
  };
  const running = new Promise<void>((resolve, reject) => {
    let partial = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output += text;
      if (output.length > MAX_OUTPUT_CHARS) output = output.slice(-MAX_OUTPUT_CHARS / 2);
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        opts.onLine?.(line);
        if (line.includes(RUNNING_LINE)) resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exit.then(() =>
      reject(
        new Error(`npm start exited (code ${exited}) before the platform ran; last output:\n${output.slice(-4000)}`),
      ),
    );
  });
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const outcome = await Promise.race([
    running.then(() => 'running' as const),
    sleep(timeoutMs, 'timeout' as const, { ref: false }),
  ]).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  if (outcome === 'timeout') {
    await stop();
    throw new Error(
      `npm start did not reach "${RUNNING_LINE}" within ${timeoutMs} ms; last output:\n${output.slice(-4000)}`,
    );
  }
  return { output, stop };
}

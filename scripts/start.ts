/**
 * `npm start`: brings up the local stack and every platform service that exists so far, then waits; Ctrl-C stops
 * what it started (services the stack found already running are left alone). `--no-simulate` skips traffic.
 * Components that are not built yet are listed as such: nothing is faked.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stackDown, stackStatus, stackUp } from '../stack/src/index.ts';
import { REPO_ROOT } from '../stack/src/paths.ts';

interface Component {
  readonly name: string;
  readonly purpose: string;
  /** Entry file relative to the repo root; the component counts as built when it exists. */
  readonly entry: string;
  readonly command: (entry: string) => [string, string[]];
}

const bun = join(REPO_ROOT, 'node_modules', '.bin', 'bun');
const COMPONENTS: readonly Component[] = [
  { name: 'edge', purpose: 'webhook gateway', entry: 'edge/src/main.ts', command: (e) => [bun, ['run', e]] },
  {
    name: 'transformer',
    purpose: 'raw → normalized',
    entry: 'pipeline/src/transformer/main.ts',
    command: (e) => ['npx', ['tsx', e]],
  },
  {
    name: 'quarantine',
    purpose: 'DLQs → PostgreSQL',
    entry: 'pipeline/src/quarantine/main.ts',
    command: (e) => ['npx', ['tsx', e]],
  },
  {
    name: 'bridge',
    purpose: 'normalized → Temporal',
    entry: 'pipeline/src/bridge/main.ts',
    command: (e) => ['npx', ['tsx', e]],
  },
  {
    name: 'worker',
    purpose: 'Temporal workflows',
    entry: 'workflows/src/worker.ts',
    command: (e) => ['npx', ['tsx', e]],
  },
  { name: 'inference', purpose: 'fraud/churn scoring', entry: 'ml/src/server.ts', command: (e) => ['npx', ['tsx', e]] },
];

const children: ChildProcess[] = [];
let stopping = false;

async function shutdown(startedServices: string[]): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\nstart: stopping platform services');
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  if (startedServices.length > 0) {
    console.log(`start: stopping ${startedServices.join(', ')}`);
    await stackDown({ only: startedServices as never });
  }
  process.exit(0);
}

async function main(): Promise<void> {
  const wasUp = new Set((await stackStatus()).filter((s) => s.state === 'healthy').map((s) => s.name));
  const statuses = await stackUp({ log: (m) => console.log(`stack: ${m}`) });
  const startedServices = statuses.filter((s) => s.managed && !wasUp.has(s.name)).map((s) => s.name);
  process.on('SIGINT', () => void shutdown(startedServices));
  process.on('SIGTERM', () => void shutdown(startedServices));

  console.log('\ninfrastructure:');
  for (const s of statuses) console.log(`  ${s.name.padEnd(12)} ${s.state.padEnd(9)} ${s.address}`);
  console.log('\nplatform services:');
  for (const c of COMPONENTS) {
    if (!existsSync(join(REPO_ROOT, c.entry))) {
      console.log(`  ${c.name.padEnd(12)} not built yet   (${c.purpose})`);
      continue;
    }
    const [cmd, args] = c.command(c.entry);
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(child);
    console.log(`  ${c.name.padEnd(12)} started, pid ${child.pid}   (${c.purpose})`);
  }
  if (children.length === 0) {
    console.log('\nNo platform service is built yet: only the infrastructure runs. Ctrl-C stops it.');
  } else {
    console.log('\nCtrl-C stops everything.');
  }
  setInterval(() => {}, 1 << 30);
}

main().catch((err: unknown) => {
  console.error(`start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

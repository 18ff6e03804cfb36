/** `npm run stack:up | stack:down | stack:status [-- --json]`: the local infrastructure from the command line. */
import type { ServiceName } from './service.ts';
import {
  DEFAULT_SERVICE_NAMES,
  SERVICE_NAMES,
  type ServiceStatus,
  stackDown,
  stackHealthy,
  stackStatus,
  stackUp,
} from './stack.ts';

const [command, ...rest] = process.argv.slice(2);
const json = rest.includes('--json');
/** `--with s3,iceberg-rest`: optional services to start besides the default ones. */
const withIndex = rest.indexOf('--with');
const extra = (withIndex >= 0 ? (rest[withIndex + 1] ?? '') : '').split(',').filter(Boolean);
/** `--only kafka,postgres`: start just these services (a developer working on one part), instead of the defaults. */
const onlyIndex = rest.indexOf('--only');
const only = (onlyIndex >= 0 ? (rest[onlyIndex + 1] ?? '') : '').split(',').filter(Boolean);
for (const name of [...extra, ...only]) {
  if (!SERVICE_NAMES.includes(name as ServiceName)) {
    console.error(`stack: unknown service ${JSON.stringify(name)} (known: ${SERVICE_NAMES.join(', ')})`);
    process.exit(2);
  }
}
const log = (m: string) => console.error(`stack: ${m}`);

function printTable(statuses: readonly ServiceStatus[]): void {
  for (const s of statuses) {
    const who = s.managed
      ? `started by the stack, pid ${s.pid}`
      : s.state === 'healthy'
        ? 'already running'
        : s.optional
          ? `optional: stack:up -- --with ${s.name}`
          : '';
    console.log(`${s.name.padEnd(12)} ${s.state.padEnd(9)} ${s.address.padEnd(44)} ${who}`);
  }
}

async function main(): Promise<number> {
  switch (command) {
    case 'up': {
      const started = Date.now();
      const names = only.length > 0 ? only : [...DEFAULT_SERVICE_NAMES, ...extra];
      const statuses = await stackUp({ only: names as ServiceName[], log });
      if (json) console.log(JSON.stringify({ services: Object.fromEntries(statuses.map((s) => [s.name, s])) }));
      else {
        printTable(statuses);
        console.log(`stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }
      return 0;
    }
    case 'down':
      await stackDown({ ...(only.length > 0 ? { only: only as ServiceName[] } : {}), log });
      if (!json) console.log('stack is down (services the stack did not start were left running)');
      return 0;
    case 'status': {
      const statuses = await stackStatus();
      const healthy = stackHealthy(statuses);
      if (json)
        console.log(JSON.stringify({ healthy, services: Object.fromEntries(statuses.map((s) => [s.name, s])) }));
      else printTable(statuses);
      return healthy ? 0 : 1;
    }
    default:
      console.error('usage: stack (up [--with <optional services>] | down | status) [--json]');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`stack: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

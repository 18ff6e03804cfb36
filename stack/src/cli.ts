/** `npm run stack:up | stack:down | stack:status [-- --json]`: the local infrastructure from the command line. */
import { type ServiceStatus, stackDown, stackStatus, stackUp } from './stack.ts';

const [command, ...rest] = process.argv.slice(2);
const json = rest.includes('--json');
const log = (m: string) => console.error(`stack: ${m}`);

function printTable(statuses: readonly ServiceStatus[]): void {
  for (const s of statuses) {
    const who = s.managed ? `started by the stack, pid ${s.pid}` : s.state === 'healthy' ? 'already running' : '';
    console.log(`${s.name.padEnd(9)} ${s.state.padEnd(9)} ${s.address.padEnd(44)} ${who}`);
  }
}

async function main(): Promise<number> {
  switch (command) {
    case 'up': {
      const started = Date.now();
      const statuses = await stackUp({ log });
      if (json) console.log(JSON.stringify({ services: Object.fromEntries(statuses.map((s) => [s.name, s])) }));
      else {
        printTable(statuses);
        console.log(`stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }
      return 0;
    }
    case 'down':
      await stackDown({ log });
      if (!json) console.log('stack is down (services the stack did not start were left running)');
      return 0;
    case 'status': {
      const statuses = await stackStatus();
      const healthy = statuses.every((s) => s.state === 'healthy');
      if (json)
        console.log(JSON.stringify({ healthy, services: Object.fromEntries(statuses.map((s) => [s.name, s])) }));
      else printTable(statuses);
      return healthy ? 0 : 1;
    }
    default:
      console.error('usage: stack (up | down | status) [--json]');
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

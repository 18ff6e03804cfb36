/**
 * `npm run replay -- --from <time> --to <time> [--provider stripe,adyen] [--dry-run]`: republishes the raw records
 * received in [from, to) from bronze.webhook_events into their raw topics (see replay.ts). Times are ISO-8601
 * (`2026-11-26`, `2026-11-26T10:00:00Z`). Prints a JSON summary.
 */
import { serviceAddresses } from '@pep/contracts';
import { loadLakeConfig } from './config.ts';
import { replay } from './replay.ts';

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function time(name: string, v: string | undefined): number {
  const ms = v ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(ms)) throw new Error(`${name} needs an ISO-8601 time, got ${JSON.stringify(v)}`);
  return ms;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const summary = await replay(loadLakeConfig(), {
    fromMs: time('--from', option(argv, '--from')),
    toMs: time('--to', option(argv, '--to')),
    providers: option(argv, '--provider')
      ?.split(',')
      .map((p) => p.trim())
      .filter(Boolean),
    brokers: serviceAddresses().kafkaBrokers,
    dryRun: argv.includes('--dry-run'),
    progress: (m) => console.error(`replay: ${m}`),
  });
  console.log(JSON.stringify(summary));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`replay failed: ${(err as Error).message}`);
    process.exit(1);
  },
);

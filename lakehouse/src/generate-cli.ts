/**
 * `npm run generate -w @pep/lakehouse -- [--events 10000000] [--days 90] [--seed 1] [--run history]
 * [--batch-rows 500000]`: writes generated history into bronze.payment_events through the lake writer
 * (see generate.ts), resuming a run of the same name. Progress on stderr, a JSON summary last.
 */
import { loadLakeConfig } from './config.ts';
import { type GenerateOptions, writeHistory } from './generate.ts';
import { LakeWriter } from './writer.ts';

function option(argv: string[], name: string, def: string): string {
  const i = argv.indexOf(name);
  return i >= 0 ? (argv[i + 1] ?? def) : def;
}

if (process.argv[1]?.endsWith('generate-cli.ts')) {
  const argv = process.argv.slice(2);
  const o: GenerateOptions = {
    events: Number(option(argv, '--events', '10000000')),
    days: Number(option(argv, '--days', '90')),
    seed: Number(option(argv, '--seed', '1')),
    run: option(argv, '--run', 'history'),
  };
  LakeWriter.open(loadLakeConfig())
    .then((w) =>
      writeHistory(w, o, {
        batchRows: Number(option(argv, '--batch-rows', '500000')),
        progress: (m) => console.error(`generate: ${m}`),
      }),
    )
    .then(
      (r) => {
        console.log(JSON.stringify({ ...o, ...r, bytesPerEvent: r.rows ? r.fileBytes / r.rows : 0 }));
        process.exit(0);
      },
      (err: unknown) => {
        console.error(`generate failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
}

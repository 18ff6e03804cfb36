/**
 * `npm run lake -- compact|expire|orphans [--table bronze.<name>] [--older-than <duration>] [--retain-last N]
 * [--dry-run] [--json]`: table maintenance (the orchestration schedules run the same commands).
 * - compact: per partition, files smaller than --small-file-mb (32) are rewritten into one file per partition; the
 *   replace snapshot keeps every row (row count and sums identical) and carries the writers' cursors forward.
 * - expire: snapshots older than --older-than (7d) are expired, except the newest --retain-last (5) and the newest
 *   carrying each writer cursor; files only expired snapshots referenced are deleted.
 * - orphans: files under the table's location that nothing references and older than --older-than (1h; a live
 *   writer's uncommitted files are younger) are deleted (--dry-run lists them).
 * Without --table every bronze table is processed. Prints one JSON line per table.
 */
import { LAKE_SUMMARY_KEYS, LAKE_TABLES } from '@pep/contracts';
import { loadLakeConfig } from './config.ts';
import { LakeWriter } from './writer.ts';

const CURSOR_KEYS = [LAKE_SUMMARY_KEYS.kafkaOffsets, LAKE_SUMMARY_KEYS.pgXidHorizon];

export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v.trim());
  if (!m) throw new Error(`bad duration ${JSON.stringify(v)} (use e.g. 30s, 10m, 1h, 7d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
  return Math.round(Number(m[1]) * unit);
}

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const command = argv[0];
  if (command !== 'compact' && command !== 'expire' && command !== 'orphans') {
    console.error(
      'usage: npm run lake -- compact|expire|orphans [--table bronze.<name>] [--older-than 7d] [--dry-run]',
    );
    return 2;
  }
  const table = option(argv, '--table');
  const tables = table ? [table] : Object.values(LAKE_TABLES).map((t) => t.qualifiedName);
  const olderThan = option(argv, '--older-than');
  const writer = await LakeWriter.open(loadLakeConfig());
  let failed = 0;
  for (const t of tables) {
    try {
      let out: unknown;
      if (command === 'compact') {
        const mb = Number(option(argv, '--small-file-mb') ?? 32);
        out = await writer.compact(t, {
          smallFileBytes: Math.round(mb * 2 ** 20),
          minFiles: Number(option(argv, '--min-files') ?? 2),
          carryKeys: CURSOR_KEYS,
        });
      } else if (command === 'expire') {
        out = await writer.expire(t, {
          olderThanMs: olderThan ? parseDuration(olderThan) : undefined,
          retainLast: option(argv, '--retain-last') ? Number(option(argv, '--retain-last')) : undefined,
          keepKeys: CURSOR_KEYS,
        });
      } else {
        out = await writer.orphans(t, {
          olderThanMs: olderThan ? parseDuration(olderThan) : undefined,
          dryRun: argv.includes('--dry-run'),
        });
      }
      console.log(JSON.stringify({ command, ...(out as object) }));
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === 'NOT_FOUND') {
        console.log(JSON.stringify({ command, table: t, skipped: 'no such table yet' }));
        continue;
      }
      failed++;
      console.error(`lake ${command} ${t} failed (${e.code ?? 'error'}): ${e.message}`);
    }
  }
  return failed > 0 ? 1 : 0;
}

if (process.argv[1]?.endsWith('lake-cli.ts')) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`lake: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}

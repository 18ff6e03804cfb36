/**
 * `npm run dashboards -- <command>`: the dashboards as code from the command line.
 *   provision [--force]   register the databases and import the bundle (skipped when unchanged; --force imports)
 *   export [--check]      write what Superset holds back into dashboards/bundle/ (--check: only say whether it differs)
 *   url                   print the dashboards' addresses and the login
 * Exit 0 on success, 1 on failure (export --check: 1 when the bundle differs), 2 on a usage error.
 */
import { readBundle, writeBundle } from './bundle.ts';
import { exportDashboards, loginHint, provisionDashboards } from './provision.ts';

const [command, ...args] = process.argv.slice(2);
const say = (m: string) => console.log(`dashboards: ${m}`);

async function main(): Promise<number> {
  switch (command) {
    case 'provision': {
      const r = await provisionDashboards({ force: args.includes('--force'), log: say });
      say(
        `${r.imported ? 'imported' : 'not imported'} (${r.reason}) in ${(r.ms / 1000).toFixed(1)} s; databases: ${r.databases.join(', ')}`,
      );
      for (const d of r.dashboards) say(`${d.title.padEnd(12)} ${d.url}`);
      say(`login: ${loginHint()}`);
      return 0;
    }
    case 'export': {
      const { files, skipped } = await exportDashboards();
      for (const s of skipped) say(`left out: ${s}`);
      const before = readBundle();
      const changed = [...new Set([...before.keys(), ...files.keys()])].filter((p) => before.get(p) !== files.get(p));
      if (args.includes('--check')) {
        for (const p of changed) say(`differs: ${p}`);
        say(changed.length === 0 ? 'the bundle matches Superset' : `${changed.length} file(s) differ`);
        return changed.length === 0 ? 0 : 1;
      }
      writeBundle(files);
      say(`wrote ${files.size} files to dashboards/bundle (${changed.length} changed)`);
      for (const p of changed) say(`  ${files.has(p) ? (before.has(p) ? 'changed' : 'added') : 'removed'} ${p}`);
      return 0;
    }
    case 'url': {
      const r = await provisionDashboards({ log: say });
      for (const d of r.dashboards) say(`${d.title.padEnd(12)} ${d.url}`);
      say(`login: ${loginHint()}`);
      return 0;
    }
    default:
      console.error('usage: npm run dashboards -- (provision [--force] | export [--check] | url)');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`dashboards: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

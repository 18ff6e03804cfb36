/**
 * `npm run chart -w @pep/deploy -- check [values files...]`: helm lint, helm template and kubecheck for the default
 * values plus the given files (no cluster needed). `... -- helm <args>` runs the pinned helm; `... -- template
 * [values files...]` prints the rendered manifests.
 */

import { spawnSync } from 'node:child_process';
import { CHART_DIR, checkChart, ensureTools, helmTemplate } from './chart.ts';

const [command, ...rest] = process.argv.slice(2);
const log = (m: string) => console.error(`chart: ${m}`);

async function main(): Promise<number> {
  const tools = await ensureTools(log);
  switch (command) {
    case 'check': {
      const { report } = checkChart(tools, { valuesFiles: rest });
      console.log(`${CHART_DIR}: helm lint ok, helm template ok, ${report}`);
      return 0;
    }
    case 'template': {
      const r = helmTemplate(tools, { valuesFiles: rest });
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code;
    }
    case 'helm':
      return spawnSync(tools.helm, rest, { stdio: 'inherit' }).status ?? 1;
    default:
      console.error('usage: chart (check [values...] | template [values...] | helm <args>)');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`chart: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

/** One-screen report of every `bench/results/*.json`: each ratio against its goal, plus when and where it ran. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchResult, meetsGoal, RESULTS_DIR } from './result.ts';

export function readResults(): BenchResult[] {
  let files: string[];
  try {
    files = readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.sort().map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as BenchResult);
}

export function formatReport(results: readonly BenchResult[]): string {
  if (results.length === 0) return 'no benchmark results in bench/results/';
  const lines: string[] = [];
  let met = 0;
  let total = 0;
  for (const r of results) {
    lines.push(`${r.target}  (${r.runtime}, commit ${r.commit}${r.quick ? ', quick' : ''}, ${r.finished_at})`);
    if (r.error) lines.push(`  FAILED: ${r.error} (the figures below are what it measured before)`);
    for (const ratio of r.ratios) {
      const ok = meetsGoal(ratio);
      const shown = typeof ratio.value === 'number' && Number.isFinite(ratio.value) ? ratio.value.toFixed(3) : 'n/a';
      const value = `${ratio.name.padEnd(44)} ${shown.padStart(10)}`;
      if (ok === null) {
        lines.push(`  info   ${value}  (no goal set)`);
        continue;
      }
      total++;
      if (ok) met++;
      const cmp = ratio.lowerIsBetter ? '<=' : '>=';
      lines.push(`  ${ok ? 'meets' : 'BELOW'}  ${value}  goal ${cmp} ${ratio.goal}`);
    }
    if (r.ratios.length === 0) lines.push('  (no ratios)');
  }
  lines.push(`${met} of ${total} ratios with a goal meet it`);
  return lines.join('\n');
}

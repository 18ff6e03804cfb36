/** Runs one benchmark target in this (fresh) process: `run-target.ts <target>`, quick mode from BENCH_QUICK=1. */
const target = process.argv[2];
if (!target || !/^[a-z0-9-]+$/.test(target)) {
  console.error('usage: run-target.ts <target>');
  process.exit(2);
}
const mod = (await import(`../${target}/index.ts`)) as { run?: (opts: { quick: boolean }) => Promise<void> };
if (typeof mod.run !== 'function') {
  console.error(`bench target ${target} does not export run({ quick })`);
  process.exit(2);
}
await mod.run({ quick: process.env.BENCH_QUICK === '1' });

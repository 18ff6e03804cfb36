import { bronzeCommand, bronzeSnapshots, createBronzeTables } from './bronze.ts';
import { ensureDbtToolchain } from './venv.ts';

const tools = await ensureDbtToolchain(console.log);
const env = { ...process.env, DBT_BRONZE_NAMESPACE: process.argv[2] ?? 'dev_bronze' };
await bronzeCommand(tools, 'drop', {}, { env });
console.log(await createBronzeTables(tools, env));
const t0 = Date.now();
console.log(
  await bronzeCommand(
    tools,
    'generate',
    { days: Number(process.argv[3] ?? 10), payments_per_day: Number(process.argv[4] ?? 200), chunk_days: 30 },
    { env, onProgress: console.error },
  ),
);
console.log('gen s', (Date.now() - t0) / 1000);
console.log(JSON.stringify(await bronzeSnapshots(tools, env)).slice(0, 600));

/** Bun child process of the core benchmark: runs the same kernel and prints one JSON line. */
import { measure } from './measure.ts';

const result = await measure({ quick: process.argv.includes('--quick') });
process.stdout.write(`${JSON.stringify(result)}\n`);

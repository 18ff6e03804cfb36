/** Child-process probe for loader.test.ts: loads the core as configured by env, prints one JSON line. */
import { CoreLoadError, loadCore, nativeLoadError } from '../src/index.ts';

try {
  const core = await loadCore();
  process.stdout.write(`${JSON.stringify({ kind: core.kind, fallbackCause: nativeLoadError() !== undefined })}\n`);
} catch (e) {
  const err = e as Error & { code?: string; cause?: unknown };
  process.stdout.write(
    `${JSON.stringify({ error: err.name, code: err.code, isLoadError: e instanceof CoreLoadError, hasCause: err.cause instanceof Error, message: err.message })}\n`,
  );
}

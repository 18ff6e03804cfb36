/**
 * JDKs installed side by side under /usr/lib/jvm (Debian's `java-17-openjdk-amd64`, `temurin-25-jdk-amd64`): the
 * services that need a newer Java than the default one on PATH (Trino: 24+, the Kafka broker's generational ZGC: 21+)
 * pick the newest there.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const JVM_ROOT = '/usr/lib/jvm';

/** The JDK major version in a folder name (`java-17-openjdk-amd64` → 17); 0 when it names none. */
export const jdkVersionOf = (dir: string): number => Number(/(?:^|[-.])(\d{2})(?:[-.]|$)/.exec(dir)?.[1] ?? 0);

/** The newest JDK of at least `minVersion` under `root` that has `bin/java`, or null. */
export function newestJdk(minVersion: number, root = JVM_ROOT): { home: string; version: number } | null {
  if (!existsSync(root)) return null;
  const best = readdirSync(root)
    .map((d) => ({ d, v: jdkVersionOf(d) }))
    .filter((c) => c.v >= minVersion && existsSync(join(root, c.d, 'bin', 'java')))
    .sort((a, b) => b.v - a.v)[0];
  return best ? { home: join(root, best.d), version: best.v } : null;
}

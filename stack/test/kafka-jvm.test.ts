/**
 * The local broker's JVM choice (kafkaJvm): which JDK it runs on and which garbage collector, from KAFKA_JAVA_HOME,
 * KAFKA_GC and the JDKs under a (fake) /usr/lib/jvm. No broker is started.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { kafkaJvm } from '../src/services/kafka.ts';

function jvmRoot(dirs: readonly string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'pep-kafka-jvm-'));
  for (const d of dirs) {
    mkdirSync(join(root, d, 'bin'), { recursive: true });
    writeFileSync(join(root, d, 'bin', 'java'), '');
  }
  roots.push(root);
  return root;
}
const roots: string[] = [];

describe('kafkaJvm', () => {
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  test('the newest JDK 21+ under the JVM folder, with generational ZGC', () => {
    const root = jvmRoot(['java-17-openjdk-amd64', 'temurin-25-jdk-amd64', 'temurin-21-jdk-amd64']);
    const jvm = kafkaJvm({}, root);
    assert.equal(jvm.java, join(root, 'temurin-25-jdk-amd64', 'bin', 'java'));
    assert.equal(jvm.version, 25);
    // From JDK 23 generational is ZGC's only mode (the flag is gone in 24).
    assert.deepEqual(jvm.gcArgs, ['-XX:+UseZGC']);
  });

  test('JDK 21 and 22 need ZGC generational mode asked for', () => {
    const root = jvmRoot(['java-17-openjdk-amd64', 'temurin-21-jdk-amd64']);
    assert.deepEqual(kafkaJvm({}, root).gcArgs, ['-XX:+UseZGC', '-XX:+ZGenerational']);
  });

  test('no JDK 21+: the java on PATH with G1 and its 20 ms pause goal', () => {
    const root = jvmRoot(['java-17-openjdk-amd64', 'java-1.17.0-openjdk-amd64']);
    assert.deepEqual(kafkaJvm({}, root), {
      java: 'java',
      version: 0,
      gcArgs: ['-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20'],
    });
    assert.equal(kafkaJvm({}, join(root, 'absent')).java, 'java');
  });

  test('KAFKA_GC=g1 keeps G1 on a new JDK; KAFKA_JAVA_HOME picks the JDK', () => {
    const root = jvmRoot(['temurin-25-jdk-amd64']);
    assert.deepEqual(kafkaJvm({ KAFKA_GC: 'g1' }, root).gcArgs, ['-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20']);
    const home = join(root, 'java-17-openjdk-amd64');
    const jvm = kafkaJvm({ KAFKA_JAVA_HOME: home }, root);
    assert.equal(jvm.java, join(home, 'bin', 'java'));
    assert.deepEqual(jvm.gcArgs, ['-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20']);
  });

  test('refuses an unknown collector, and ZGC on a JDK older than 21', () => {
    const root = jvmRoot(['temurin-25-jdk-amd64']);
    assert.throws(() => kafkaJvm({ KAFKA_GC: 'shenandoah' }, root), /KAFKA_GC must be zgc or g1/);
    assert.throws(
      () => kafkaJvm({ KAFKA_GC: 'zgc', KAFKA_JAVA_HOME: '/usr/lib/jvm/java-17-openjdk-amd64' }, root),
      /needs a JDK 21 or newer/,
    );
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binOf, binReference, levelOf, psiAgainst } from './psi.ts';
import { parseDriftReference } from './reference.ts';
import { driftThresholds, evenSample } from './report.ts';

/** A deterministic pseudo-random stream (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const normal = (r: () => number, mean: number, sd: number) =>
  mean + sd * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
const sample = (seed: number, n: number, mean: number, sd: number) => {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => normal(r, mean, sd));
};

test('deciles of the reference: numpy-style edges, ties merged, shares that sum to 1', () => {
  const ref = binReference(Float64Array.from({ length: 101 }, (_, i) => i));
  assert.deepEqual(ref.edges, [10, 20, 30, 40, 50, 60, 70, 80, 90]);
  assert.equal(binOf(ref.edges, 9.99), 0);
  assert.equal(binOf(ref.edges, 10), 1, 'a value on an edge goes to the bin above it (numpy histogram)');
  assert.equal(binOf(ref.edges, 1e9), 9);
  assert.ok(Math.abs(ref.shares.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  // A feature that is mostly 0 (a count of rare events): one edge at 0, not nine.
  const zeros = binReference(Float64Array.from({ length: 1000 }, (_, i) => (i < 950 ? 0 : i)));
  assert.ok(zeros.edges.length < 3, `edges ${zeros.edges}`);
  assert.equal(zeros.mean, Float64Array.from({ length: 50 }, (_, i) => 950 + i).reduce((a, b) => a + b) / 1000);
});

test('PSI: ~0 for the same distribution, moderate for a small shift, large for a big one; NaNs count', () => {
  const ref = binReference(sample(1, 20_000, 0, 1));
  const same = psiAgainst(ref, sample(2, 5_000, 0, 1)).psi;
  const small = psiAgainst(ref, sample(3, 5_000, 0.4, 1)).psi;
  const big = psiAgainst(ref, sample(4, 5_000, 1.5, 1)).psi;
  assert.ok(same < 0.02, `same distribution: ${same}`);
  assert.ok(small > 0.1 && small < 0.25, `0.4 sd shift: ${small}`);
  assert.ok(big > 1, `1.5 sd shift: ${big}`);
  assert.equal(levelOf(same, 0.1, 0.25), 'ok');
  assert.equal(levelOf(small, 0.1, 0.25), 'warn');
  assert.equal(levelOf(big, 0.1, 0.25), 'alert');
  const withNan = sample(5, 5_000, 0, 1);
  withNan.fill(Number.NaN, 0, 1000);
  assert.ok(psiAgainst(ref, withNan).psi > 0.25, 'a fifth of the values missing is drift');
  assert.equal(psiAgainst(ref, []).psi, 0);
});

test('the thresholds come from the environment, checked', () => {
  assert.deepEqual(driftThresholds({}), { psiWarn: 0.1, psiAlert: 0.25, minRows: 100, maxRows: 20_000 });
  assert.equal(driftThresholds({ ML_DRIFT_PSI_ALERT: '0.5' }).psiAlert, 0.5);
  assert.throws(() => driftThresholds({ ML_DRIFT_PSI_ALERT: 'x' }), /ML_DRIFT_PSI_ALERT must be a positive number/);
  assert.throws(() => driftThresholds({ ML_DRIFT_MIN_ROWS: '1.5' }), /positive integer/);
  assert.throws(() => driftThresholds({ ML_DRIFT_PSI_WARN: '0.3' }), /is above ML_DRIFT_PSI_ALERT/);
});

test('an even sample keeps the order and the bound; a corrupt reference is an error, not a silent 0', () => {
  assert.deepEqual(evenSample([1, 2, 3], 5), [1, 2, 3]);
  assert.deepEqual(evenSample([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 5), [0, 2, 4, 6, 8]);
  assert.throws(() => parseDriftReference('{', 'fraud v1'), /fraud v1: drift_reference.json is not JSON/);
  assert.throws(() => parseDriftReference('{"format":"x"}', 'fraud v1'), /has format "x"/);
  const score = { edges: [0.5], shares: [0.5, 0.5], nanShare: 0, mean: 0.5, n: 2 };
  const good = { format: 'pep-drift-reference-v1', features: { a: score }, score };
  assert.equal(parseDriftReference(JSON.stringify(good), 'v1').features.a?.n, 2);
  const bad = { ...good, features: { a: { ...score, shares: [1] } } };
  assert.throws(() => parseDriftReference(JSON.stringify(bad), 'v1'), /bins of a are malformed/);
});

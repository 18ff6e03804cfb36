import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadCore } from '@pep/core-native';
import { FEATURE_SPEC, parseFeatureSpec, viewsOf } from './spec.ts';

test("core-native's model input reads exactly the spec's features, under the spec's version", async () => {
  const core = await loadCore({ impl: 'js' });
  const model = core.featureSpec();
  assert.equal(model.version, FEATURE_SPEC.version);
  const fromSpec = FEATURE_SPEC.entities.flatMap((e) =>
    viewsOf(FEATURE_SPEC, e.name).flatMap((v) => v.features.map((f) => `${e.name}_${f.name}`)),
  );
  const entityInputs = model.features.filter((f) => f.source !== 'event' && f.transform !== 'record_present');
  assert.deepEqual(
    entityInputs.map((f) => f.name),
    fromSpec,
  );
  for (const f of entityInputs) assert.equal(f.name, `${f.source}_${f.field}`);
});

test('a spec with an unknown aggregation, a missing window or a doubled name is refused', () => {
  const base = JSON.parse(JSON.stringify(FEATURE_SPEC));
  const bad = (mutate: (s: typeof base) => void) => {
    const s = JSON.parse(JSON.stringify(base));
    mutate(s);
    return () => parseFeatureSpec(JSON.stringify(s));
  };
  assert.throws(
    bad((s) => (s.views[0].features[0].agg = 'median')),
    /unknown aggregation median/,
  );
  assert.throws(
    bad((s) => delete s.views[0].features[0].window),
    /needs a window/,
  );
  assert.throws(
    bad((s) => s.views[0].features.push({ ...s.views[0].features[0] })),
    /declared twice/,
  );
  assert.throws(
    bad((s) => (s.version = 'v2')),
    /version/,
  );
});

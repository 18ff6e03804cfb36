import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCORING_NODE_FLAGS_DEFAULT, scoringNodeFlags } from './node-flags.ts';

test('scoring node flags: the default, an override, none, and a word that is not a flag', () => {
  assert.deepEqual(scoringNodeFlags({}), ['--max-semi-space-size=16', '--expose-gc']);
  assert.equal(SCORING_NODE_FLAGS_DEFAULT, '--max-semi-space-size=16 --expose-gc');
  assert.deepEqual(scoringNodeFlags({ ML_SCORING_NODE_FLAGS: '' }), []);
  assert.deepEqual(
    scoringNodeFlags({ ML_SCORING_NODE_FLAGS: ' --initial-old-space-size=128  --max-semi-space-size=32 ' }),
    ['--initial-old-space-size=128', '--max-semi-space-size=32'],
  );
  // A path would become the script tsx runs, a short option another meaning: refused, naming the variable.
  assert.throws(
    () => scoringNodeFlags({ ML_SCORING_NODE_FLAGS: 'ml/src/other.ts' }),
    /ML_SCORING_NODE_FLAGS: "ml\/src\/other.ts" is not a node flag/,
  );
  assert.throws(() => scoringNodeFlags({ ML_SCORING_NODE_FLAGS: '--x=1 -e' }), /"-e" is not a node flag/);
});

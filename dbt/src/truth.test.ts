import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { truthSeedCsv, writeFraudTruthSeed } from './truth.ts';

const rec = (provider: string, eventId: string, pattern = 'card_testing') =>
  JSON.stringify({ provider, event_id: eventId, kind: 'payment', pattern, instance: `${pattern}-0` });

test('truth seed: platform event ids, one row per event, bad lines skipped and counted, quoting', () => {
  const files = new Map([
    ['fraud-truth-7.jsonl', `${rec('adyen', '87_AUTHORISATION')}\n${rec('stripe', 'evt_1')}\nnot json\n\n`],
    [
      'fraud-truth-9.jsonl',
      `${rec('stripe', 'evt_1', 'velocity_spike')}\n${rec('square', 'a,"b"')}\n{"provider":"x"}\n`,
    ],
  ]);
  const { csv, records, skipped } = truthSeedCsv(files);
  assert.equal(records, 3);
  assert.equal(skipped, 2);
  assert.deepEqual(csv.trimEnd().split('\n'), [
    'event_id,provider,provider_event_id,pattern,fraud_instance,truth_run_seed',
    'adyen:87_AUTHORISATION,adyen,87_AUTHORISATION,card_testing,card_testing-0,7',
    'stripe:evt_1,stripe,evt_1,card_testing,card_testing-0,7',
    '"square:a,""b""",square,"a,""b""",card_testing,card_testing-0,9',
  ]);
});

test('truth seed: a missing folder gives a header-only seed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pep-truth-'));
  try {
    const seed = join(dir, 'seeds', 'fraud_truth.csv');
    const s = writeFraudTruthSeed(join(dir, 'absent'), seed);
    assert.deepEqual({ files: s.files, records: s.records }, { files: 0, records: 0 });
    assert.equal(
      readFileSync(seed, 'utf8'),
      'event_id,provider,provider_event_id,pattern,fraud_instance,truth_run_seed\n',
    );
    writeFileSync(join(dir, 'fraud-truth-3.jsonl'), `${rec('braintree', 'tx_1')}\n`);
    writeFileSync(join(dir, 'other.jsonl'), `${rec('braintree', 'tx_2')}\n`);
    assert.equal(writeFraudTruthSeed(dir, seed).records, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

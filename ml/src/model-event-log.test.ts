import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modelEventLog } from './server.ts';

test('a model slot error that repeats every reload poll is logged once, again when it changes or after a load', () => {
  const lines: string[] = [];
  const onEvent = modelEventLog((msg, fields) =>
    lines.push(`${msg} ${fields?.model}/${fields?.alias} ${fields?.detail}`),
  );
  const fraud = { name: 'fraud', alias: 'champion' } as const;
  const churn = { name: 'churn', alias: 'challenger' } as const;
  for (let poll = 0; poll < 5; poll++) {
    onEvent({ kind: 'error', slot: fraud, detail: 'registry_unreachable' });
    onEvent({ kind: 'error', slot: churn, detail: 'registry_unreachable' });
  }
  onEvent({ kind: 'error', slot: fraud, detail: 'no_version' });
  onEvent({ kind: 'loaded', slot: fraud, detail: 'version 3' });
  onEvent({ kind: 'error', slot: fraud, detail: 'no_version' });
  assert.deepEqual(lines, [
    'model unavailable fraud/champion registry_unreachable',
    'model unavailable churn/challenger registry_unreachable',
    'model unavailable fraud/champion no_version',
    'model loaded: now serving fraud/champion version 3',
    'model unavailable fraud/champion no_version',
  ]);
});

/**
 * The sink's checksum: core-native's CRC-32C when the addon loads, kafka-wire's JS one otherwise, always the same value.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { crc32c } from '@pep/kafka-wire/protocol';
import { loadChecksum } from './native-checksum.ts';

describe('loadChecksum', () => {
  it('loads the native CRC-32C here (the addon is built before the tests) and it equals the JS one', async () => {
    const c = await loadChecksum({});
    assert.equal(c.impl, 'native', c.reason);
    for (let i = 0; i < 200; i++) {
      const bytes = randomBytes(1 + ((i * 997) % 40_000));
      const start = i % 7;
      const end = bytes.length - (i % 3 === 0 ? 0 : Math.min(bytes.length - start, i % 5));
      assert.equal(c.crc32c(bytes, start, end), crc32c(bytes, start, end), `length ${bytes.length} [${start}, ${end})`);
    }
    assert.equal(c.crc32c(Buffer.from('123456789'), 0, 9), 0xe3069283);
  });

  it('CORE_NATIVE_IMPL=js forces the JS one and says why', async () => {
    const c = await loadChecksum({ CORE_NATIVE_IMPL: 'js' });
    assert.equal(c.impl, 'js');
    assert.equal(c.crc32c, crc32c);
    assert.match(c.reason ?? '', /CORE_NATIVE_IMPL=js/);
  });
});

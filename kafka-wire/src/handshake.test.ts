import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkApiVersion,
  decodeApiVersionsResponse,
  oauthBearerInitialResponse,
  ScramClient,
  throttleTimeMs,
  UnsupportedApiError,
} from './handshake.ts';

describe('SCRAM client', () => {
  it('matches the RFC 7677 SCRAM-SHA-256 example byte for byte and checks the server signature', () => {
    const c = new ScramClient('sha256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
    assert.equal(c.first().toString(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = c.final(
      Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'),
    );
    assert.equal(
      final.toString(),
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    );
    c.verify(Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='));
    assert.throws(() => c.verify(Buffer.from('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')), {
      name: 'KafkaAuthenticationError',
      message: /did not prove that it knows the password/,
    });
  });

  it('refuses a server nonce that does not extend ours and absurd iteration counts', () => {
    const c = new ScramClient('sha512', 'u', 'p', 'abc');
    assert.throws(() => c.final(Buffer.from('r=xyz123,s=c2FsdA==,i=4096')), /nonce that does not extend ours/);
    assert.throws(() => c.final(Buffer.from('r=abcdef,s=c2FsdA==,i=100000000')), /malformed first message/);
  });
});

describe('ApiVersions and versions', () => {
  it('decodes the ranges and names a missing API or version', () => {
    const body = Buffer.alloc(2 + 4 + 6 * 2 + 4);
    let at = body.writeInt16BE(0, 0);
    at = body.writeInt32BE(2, at);
    at = body.writeInt16BE(0, at); // Produce 3..12
    at = body.writeInt16BE(3, at);
    at = body.writeInt16BE(12, at);
    at = body.writeInt16BE(28, at); // TxnOffsetCommit 0..2
    at = body.writeInt16BE(0, at);
    at = body.writeInt16BE(2, at);
    body.writeInt32BE(0, at);
    const { errorCode, versions } = decodeApiVersionsResponse(body);
    assert.equal(errorCode, 0);
    checkApiVersion(versions, 0, 7, 'b:9092');
    assert.throws(
      () => checkApiVersion(versions, 28, 3, 'b:9092'),
      (err: Error) => {
        assert.ok(err instanceof UnsupportedApiError);
        assert.equal(
          err.message.split(';')[0],
          'Kafka broker b:9092 does not support TxnOffsetCommit v3 (it accepts v0-v2)',
        );
        return true;
      },
    );
    assert.throws(() => checkApiVersion(versions, 24, 2, 'b:9092'), /does not support the AddPartitionsToTxn API/);
  });
});

describe('throttle_time_ms', () => {
  it('is read first in most responses, after the tagged fields of flexible ones, last in Produce', () => {
    const first = Buffer.from([0, 0, 0x01, 0xf4, 9, 9]);
    assert.equal(throttleTimeMs(3, 4, first), 500); // Metadata v4
    assert.equal(throttleTimeMs(3, 2, first), 0); // Metadata v2 has none
    assert.equal(throttleTimeMs(28, 3, Buffer.from([0, 0, 0, 0, 0x64])), 100); // TxnOffsetCommit v3: tags, then it
    assert.equal(throttleTimeMs(0, 7, Buffer.from([1, 2, 3, 0, 0, 0, 0x2a])), 42); // Produce v7: last
    assert.equal(throttleTimeMs(17, 1, first), 0); // SaslHandshake has none
    assert.equal(throttleTimeMs(1, 5, Buffer.from([0])), 0); // unreadable: 0, not a throw
  });
});

describe('OAUTHBEARER', () => {
  it('writes the RFC 7628 initial response with KIP-342 extensions', () => {
    assert.equal(
      oauthBearerInitialResponse('t0k', { logicalCluster: 'lkc-1' }).toString(),
      'n,,\u0001auth=Bearer t0k\u0001logicalCluster=lkc-1\u0001\u0001',
    );
  });
});

/**
 * What happens on a new broker connection before any other request, shared by both connection implementations
 * (node:net/node:tls in connection.ts, Bun's sockets in bun-connection.ts): ApiVersions (the broker's version range
 * per API; every later request is checked against it, and a missing API stops the client with an error naming it),
 * then SASL when configured (SaslHandshake v1 + SaslAuthenticate: PLAIN, SCRAM-SHA-256/512 per RFC 5802/7677 on
 * node:crypto, OAUTHBEARER per RFC 7628/KIP-255 with a token provider). Also the throttle_time_ms position of every
 * response the package reads (KIP-219: the client must hold back its next request that long).
 *
 * Not for: TLS itself (the connections open the socket with node:tls or Bun's `tls` option) or choosing a version:
 * kafka-wire speaks one version per API (listed in API_NAMES' users) and fails clearly when the broker lacks it.
 * Reference: https://kafka.apache.org/protocol (ApiVersions, SaslHandshake, SaslAuthenticate).
 */

import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KafkaSasl } from '@pep/contracts/kafka-security';
import { RequestWriter, ResponseReader } from './consumer-codec.ts';
import { kafkaErrorName } from './protocol.ts';

/** Names of the APIs kafka-wire (and its tests) send, for error messages. */
export const API_NAMES: Readonly<Record<number, string>> = {
  0: 'Produce',
  1: 'Fetch',
  2: 'ListOffsets',
  3: 'Metadata',
  8: 'OffsetCommit',
  9: 'OffsetFetch',
  10: 'FindCoordinator',
  11: 'JoinGroup',
  12: 'Heartbeat',
  13: 'LeaveGroup',
  14: 'SyncGroup',
  17: 'SaslHandshake',
  18: 'ApiVersions',
  19: 'CreateTopics',
  22: 'InitProducerId',
  24: 'AddPartitionsToTxn',
  25: 'AddOffsetsToTxn',
  26: 'EndTxn',
  28: 'TxnOffsetCommit',
  36: 'SaslAuthenticate',
};
export const apiName = (key: number): string => API_NAMES[key] ?? `API ${key}`;

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

/** The broker's supported versions, by API key (from ApiVersions). */
export type ApiVersionMap = ReadonlyMap<number, VersionRange>;

/** A broker cannot serve a request this client needs: never retried (another broker of the cluster is the same). */
export class UnsupportedApiError extends Error {
  override readonly name = 'UnsupportedApiError';
  /** UNSUPPORTED_VERSION, so `hasKafkaCode(err, 35)` holds. */
  readonly code = 35;
  readonly fatal = true;
  constructor(
    readonly apiKey: number,
    readonly version: number,
    readonly broker: string,
    range: VersionRange | undefined,
  ) {
    super(
      range
        ? `Kafka broker ${broker} does not support ${apiName(apiKey)} v${version} (it accepts v${range.min}-v${range.max}); kafka-wire needs Kafka 2.5 or newer`
        : `Kafka broker ${broker} does not support the ${apiName(apiKey)} API (key ${apiKey}); kafka-wire needs Kafka 2.5 or newer`,
    );
  }
}

/** Authentication failed (wrong password, unknown user, rejected token, mechanism not enabled): never retried. */
export class KafkaAuthenticationError extends Error {
  override readonly name = 'KafkaAuthenticationError';
  readonly fatal = true;
  constructor(
    message: string,
    /** The Kafka error code when the broker sent one (58 SASL_AUTHENTICATION_FAILED, 33 UNSUPPORTED_SASL_MECHANISM). */
    readonly code: number | null = null,
  ) {
    super(message);
  }
}

/** True for errors that no retry can mend (authentication, TLS trust, a missing API): stop and tell the operator. */
export const isFatalConnectionError = (err: unknown): boolean => (err as { fatal?: unknown } | null)?.fatal === true;

/** Throws unless the broker serves `apiKey` at `version`. */
export function checkApiVersion(versions: ApiVersionMap, apiKey: number, version: number, broker: string): void {
  const r = versions.get(apiKey);
  if (!r || version < r.min || version > r.max) throw new UnsupportedApiError(apiKey, version, broker, r);
}

// ---------- ApiVersions v2 (non-flexible; every broker since 2.0 answers it) ----------

const API_VERSIONS = { key: 18, version: 2 } as const;

export function encodeApiVersionsRequest(correlationId: number, clientId: Buffer): Buffer {
  return new RequestWriter(64).header(API_VERSIONS.key, API_VERSIONS.version, correlationId, clientId, false).finish();
}

export function decodeApiVersionsResponse(body: Buffer): { errorCode: number; versions: Map<number, VersionRange> } {
  const r = new ResponseReader(body);
  const errorCode = r.int16();
  const versions = new Map<number, VersionRange>();
  for (const a of r.array(() => ({ key: r.int16(), min: r.int16(), max: r.int16() })))
    versions.set(a.key, { min: a.min, max: a.max });
  return { errorCode, versions };
}

// ---------- SaslHandshake v1, SaslAuthenticate v0/v1 ----------

const SASL_HANDSHAKE = { key: 17, version: 1 } as const;
const SASL_AUTHENTICATE = { key: 36 } as const;

export function encodeSaslHandshakeRequest(correlationId: number, clientId: Buffer, mechanism: string): Buffer {
  return new RequestWriter(64)
    .header(SASL_HANDSHAKE.key, SASL_HANDSHAKE.version, correlationId, clientId, false)
    .string(mechanism)
    .finish();
}

export function decodeSaslHandshakeResponse(body: Buffer): { errorCode: number; mechanisms: string[] } {
  const r = new ResponseReader(body);
  const errorCode = r.int16();
  return { errorCode, mechanisms: r.array(() => r.string() ?? '') };
}

export function encodeSaslAuthenticateRequest(
  correlationId: number,
  clientId: Buffer,
  version: 0 | 1,
  authBytes: Uint8Array,
): Buffer {
  return new RequestWriter(64 + authBytes.length)
    .header(SASL_AUTHENTICATE.key, version, correlationId, clientId, false)
    .bytes(authBytes)
    .finish();
}

export interface SaslAuthenticateResponse {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly authBytes: Buffer;
  /** v1: the broker closes the connection after this long unless it re-authenticates (0: never). */
  readonly sessionLifetimeMs: number;
}

export function decodeSaslAuthenticateResponse(body: Buffer, version: 0 | 1): SaslAuthenticateResponse {
  const r = new ResponseReader(body);
  const errorCode = r.int16();
  const errorMessage = r.string();
  const authBytes = r.bytes() ?? Buffer.alloc(0);
  const sessionLifetimeMs = version >= 1 ? Number(r.int64()) : 0;
  return { errorCode, errorMessage, authBytes, sessionLifetimeMs };
}

// ---------- SCRAM (RFC 5802, RFC 7677) ----------

type ScramHash = 'sha256' | 'sha512';
const SCRAM_KEY_BYTES: Record<ScramHash, number> = { sha256: 32, sha512: 64 };
/** Kafka stores 4096..16384 iterations; a server asking for more than this is refused rather than obeyed. */
const MAX_SCRAM_ITERATIONS = 100_000;
/** SaltedPassword by (hash, salt, iterations): PBKDF2 costs milliseconds, and every connection of a client needs it. */
const saltedPasswords = new Map<string, Buffer>();

const hmac = (hash: ScramHash, key: Buffer, data: string | Buffer) => createHmac(hash, key).update(data).digest();
const saslName = (s: string) => s.replaceAll('=', '=3D').replaceAll(',', '=2C');

function parseScram(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const i = part.indexOf('=');
    if (i === 1) out.set(part[0] as string, part.slice(2));
  }
  return out;
}

/** One SCRAM client conversation: `first()`, then `final(serverFirst)`, then `verify(serverFinal)`. */
export class ScramClient {
  private readonly nonce: string;
  private readonly firstBare: string;
  private serverSignature: Buffer | null = null;

  constructor(
    private readonly hash: ScramHash,
    username: string,
    private readonly password: string,
    nonce = randomBytes(24).toString('base64'),
  ) {
    this.nonce = nonce;
    this.firstBare = `n=${saslName(username)},r=${nonce}`;
  }

  first(): Buffer {
    return Buffer.from(`n,,${this.firstBare}`, 'utf8');
  }

  final(serverFirstBytes: Buffer): Buffer {
    const serverFirst = serverFirstBytes.toString('utf8');
    const f = parseScram(serverFirst);
    if (f.has('e')) throw new KafkaAuthenticationError(`SCRAM: the broker refused: ${f.get('e')}`);
    const nonce = f.get('r') ?? '';
    const salt = Buffer.from(f.get('s') ?? '', 'base64');
    const iterations = Number(f.get('i'));
    if (!nonce.startsWith(this.nonce) || nonce.length <= this.nonce.length)
      throw new KafkaAuthenticationError('SCRAM: the broker answered with a nonce that does not extend ours');
    if (salt.length === 0 || !Number.isInteger(iterations) || iterations < 1 || iterations > MAX_SCRAM_ITERATIONS)
      throw new KafkaAuthenticationError('SCRAM: the broker sent a malformed first message');
    const cacheKey = `${this.hash}\0${f.get('s')}\0${iterations}\0${this.password}`;
    let salted = saltedPasswords.get(cacheKey);
    if (!salted) {
      salted = pbkdf2Sync(Buffer.from(this.password, 'utf8'), salt, iterations, SCRAM_KEY_BYTES[this.hash], this.hash);
      if (saltedPasswords.size >= 64) saltedPasswords.clear();
      saltedPasswords.set(cacheKey, salted);
    }
    const clientKey = hmac(this.hash, salted, 'Client Key');
    const storedKey = createHash(this.hash).update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`; // biws = base64("n,,")
    const authMessage = `${this.firstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(this.hash, storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = (clientKey[i] as number) ^ (signature[i] as number);
    this.serverSignature = hmac(this.hash, hmac(this.hash, salted, 'Server Key'), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** Checks the broker's proof that it knows the password too (a fake broker cannot pass this). */
  verify(serverFinalBytes: Buffer): void {
    const f = parseScram(serverFinalBytes.toString('utf8'));
    if (f.has('e')) throw new KafkaAuthenticationError(`SCRAM: the broker refused: ${f.get('e')}`);
    const v = Buffer.from(f.get('v') ?? '', 'base64');
    const expected = this.serverSignature;
    if (!expected || v.length !== expected.length || !timingSafeEqual(v, expected))
      throw new KafkaAuthenticationError('SCRAM: the broker did not prove that it knows the password');
  }
}

// ---------- the handshake ----------

/** The raw request surface of a connection while it is being set up. */
export interface HandshakeChannel {
  readonly address: string;
  correlationId(): number;
  rawRequest(correlationId: number, encoded: Buffer): Promise<Buffer>;
}

export interface HandshakeResult {
  readonly versions: ApiVersionMap;
  /** When the SASL session ends (epoch ms; the connection must be replaced before), or null. */
  readonly sessionExpiresAtMs: number | null;
}

async function call<T>(ch: HandshakeChannel, encode: (id: number) => Buffer, decode: (b: Buffer) => T): Promise<T> {
  const id = ch.correlationId();
  return decode(await ch.rawRequest(id, encode(id)));
}

/** ApiVersions, then SASL when `sasl` is set. Throws a fatal error for a missing API or failed authentication. */
export async function handshake(
  ch: HandshakeChannel,
  clientId: Buffer,
  sasl: KafkaSasl | null | undefined,
): Promise<HandshakeResult> {
  const av = await call(ch, (id) => encodeApiVersionsRequest(id, clientId), decodeApiVersionsResponse);
  if (av.errorCode !== 0)
    throw new UnsupportedApiError(
      API_VERSIONS.key,
      API_VERSIONS.version,
      ch.address,
      av.versions.get(API_VERSIONS.key),
    );
  const versions: ApiVersionMap = av.versions;
  if (!sasl) return { versions, sessionExpiresAtMs: null };

  checkApiVersion(versions, SASL_HANDSHAKE.key, SASL_HANDSHAKE.version, ch.address);
  const authRange = versions.get(SASL_AUTHENTICATE.key);
  if (!authRange) throw new UnsupportedApiError(SASL_AUTHENTICATE.key, 0, ch.address, undefined);
  const authVersion: 0 | 1 = authRange.max >= 1 && authRange.min <= 1 ? 1 : 0;
  const hs = await call(
    ch,
    (id) => encodeSaslHandshakeRequest(id, clientId, sasl.mechanism),
    decodeSaslHandshakeResponse,
  );
  if (hs.errorCode !== 0)
    throw new KafkaAuthenticationError(
      `Kafka ${ch.address} does not accept SASL mechanism ${sasl.mechanism} (it offers ${hs.mechanisms.join(', ') || 'none'}): ${kafkaErrorName(hs.errorCode)}`,
      hs.errorCode,
    );

  const startedAt = Date.now();
  const authenticate = async (bytes: Buffer): Promise<SaslAuthenticateResponse> => {
    const res = await call(
      ch,
      (id) => encodeSaslAuthenticateRequest(id, clientId, authVersion, bytes),
      (b) => decodeSaslAuthenticateResponse(b, authVersion),
    );
    if (res.errorCode !== 0) {
      const who = sasl.mechanism === 'OAUTHBEARER' ? 'the token' : `user '${sasl.username}'`;
      throw new KafkaAuthenticationError(
        `Kafka ${ch.address} refused SASL ${sasl.mechanism} authentication of ${who}: ${res.errorMessage ?? kafkaErrorName(res.errorCode)} (${kafkaErrorName(res.errorCode)})`,
        res.errorCode,
      );
    }
    return res;
  };

  let last: SaslAuthenticateResponse;
  switch (sasl.mechanism) {
    case 'PLAIN':
      last = await authenticate(Buffer.from(`\0${sasl.username}\0${sasl.password.reveal()}`, 'utf8'));
      break;
    case 'SCRAM-SHA-256':
    case 'SCRAM-SHA-512': {
      const scram = new ScramClient(
        sasl.mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512',
        sasl.username,
        sasl.password.reveal(),
      );
      const serverFirst = await authenticate(scram.first());
      last = await authenticate(scram.final(serverFirst.authBytes));
      scram.verify(last.authBytes);
      break;
    }
    case 'OAUTHBEARER': {
      let token: Awaited<ReturnType<typeof sasl.tokenProvider>>;
      try {
        token = await sasl.tokenProvider();
      } catch (err) {
        throw new KafkaAuthenticationError(`OAUTHBEARER token provider failed: ${(err as Error).message}`);
      }
      last = await authenticate(oauthBearerInitialResponse(token.value, token.extensions));
      break;
    }
  }
  return {
    versions,
    sessionExpiresAtMs: last.sessionLifetimeMs > 0 ? startedAt + last.sessionLifetimeMs : null,
  };
}

/** RFC 7628 client initial response, with KIP-342 extensions. */
export function oauthBearerInitialResponse(token: string, extensions: Readonly<Record<string, string>> = {}): Buffer {
  const ext = Object.entries(extensions).map(([k, v]) => `${k}=${v}\u0001`);
  return Buffer.from(`n,,\u0001auth=Bearer ${token}\u0001${ext.join('')}\u0001`, 'utf8');
}

// ---------- throttling (KIP-219) ----------

/**
 * Where a response carries throttle_time_ms, by API key: the first version that has it, the first flexible version
 * (its response header has a tagged-field section before the body), and whether it is the body's first field or its
 * last (Produce). APIs not listed carry none (SaslHandshake, SaslAuthenticate) or are not throttled in practice.
 */
const THROTTLE: Readonly<Record<number, { from: number; flexibleFrom: number; at: 'first' | 'last' }>> = {
  0: { from: 1, flexibleFrom: 9, at: 'last' },
  1: { from: 1, flexibleFrom: 12, at: 'first' },
  2: { from: 2, flexibleFrom: 6, at: 'first' },
  3: { from: 3, flexibleFrom: 9, at: 'first' },
  8: { from: 3, flexibleFrom: 8, at: 'first' },
  9: { from: 3, flexibleFrom: 6, at: 'first' },
  10: { from: 1, flexibleFrom: 3, at: 'first' },
  11: { from: 2, flexibleFrom: 6, at: 'first' },
  12: { from: 1, flexibleFrom: 4, at: 'first' },
  13: { from: 1, flexibleFrom: 4, at: 'first' },
  14: { from: 1, flexibleFrom: 4, at: 'first' },
  19: { from: 2, flexibleFrom: 5, at: 'first' },
  22: { from: 0, flexibleFrom: 2, at: 'first' },
  24: { from: 0, flexibleFrom: 3, at: 'first' },
  25: { from: 0, flexibleFrom: 3, at: 'first' },
  26: { from: 0, flexibleFrom: 3, at: 'first' },
  28: { from: 0, flexibleFrom: 3, at: 'first' },
};

/** throttle_time_ms of a response body (after the correlation id), 0 when the API/version has none or it is unreadable. */
export function throttleTimeMs(apiKey: number, version: number, body: Buffer): number {
  const t = THROTTLE[apiKey];
  if (!t || version < t.from) return 0;
  try {
    if (t.at === 'last') return body.length >= 4 ? Math.max(0, body.readInt32BE(body.length - 4)) : 0;
    const r = new ResponseReader(body);
    if (version >= t.flexibleFrom) r.tags();
    return Math.max(0, r.int32());
  } catch {
    return 0;
  }
}

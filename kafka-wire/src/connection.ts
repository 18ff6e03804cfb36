/**
 * One connection to one Kafka broker: size-prefixed requests, correlation ids, responses matched back to their
 * request. Nagle off (a request/response protocol). TLS when configured (CA bundle, client certificate for mTLS,
 * hostname verification on by default), then the handshake (ApiVersions, SASL; handshake.ts) before the connection
 * counts as open. Every request is checked against the broker's version range; a response's throttle_time_ms holds
 * back the next request (KIP-219). Bounded: a connect timeout (covering TLS and SASL), a per-request timeout, and a
 * cap on requests waiting for an answer. Any socket error, close or timeout fails every waiting request and destroys
 * the connection (the owner opens a new one); a late answer to a request that was given up is ignored.
 *
 * `ConnectionCore` is the part both socket implementations share (this file's node:net/node:tls one and the Bun
 * socket one); a subclass only opens, writes and destroys its socket.
 */

import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type KafkaSasl, type KafkaTls, tlsConnectOptions } from '@pep/contracts/kafka-security';
import {
  type ApiVersionMap,
  apiName,
  checkApiVersion,
  type HandshakeResult,
  handshake,
  throttleTimeMs,
} from './handshake.ts';

export interface ConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** Covers the TCP connect, the TLS handshake, ApiVersions and SASL. */
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Requests awaiting an answer on this connection at most. */
  readonly maxPending?: number;
  /** Sent in the handshake's requests (default 'kafka-wire'). */
  readonly clientId?: Buffer;
  /** TLS settings (KAFKA_SECURITY_PROTOCOL SSL / SASL_SSL); null or absent: plaintext. */
  readonly tls?: KafkaTls | null;
  /** SASL settings (SASL_PLAINTEXT / SASL_SSL). */
  readonly sasl?: KafkaSasl | null;
  /** false: skip ApiVersions and SASL (unit tests against a scripted fake broker only). */
  readonly handshake?: boolean;
  /** Called when the broker asks this client to hold back (throttle_time_ms > 0). */
  readonly onThrottle?: (throttleMs: number, apiKey: number) => void;
}

interface PendingRequest {
  readonly resolve: (body: Buffer) => void;
  readonly reject: (err: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  readonly apiKey: number;
  readonly version: number;
}

/** Largest response accepted (a produce or metadata answer is a few KiB; this is a corruption guard). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Node's socket `onread` (reads into a buffer of ours) on plain TCP; not under Bun, whose node:net may lack it. */
const READ_INTO_STATIC_BUFFER = process.versions.bun === undefined;
const READ_BUFFER_BYTES = 64 * 1024;
/** A SASL session is replaced this long before the broker would close it (KIP-368). */
const REAUTH_MARGIN_MS = 10_000;
const DEFAULT_CLIENT_ID = Buffer.from('kafka-wire');

/**
 * Cuts a broker's byte stream into response frames (4-byte size, correlation id, body). `copy`: the runtime reuses
 * the buffers it hands to the data callback (Bun does; so does Node's socket `onread` with a static buffer), so each
 * frame is copied out into one buffer of its exact size, allocated once its size is read: one allocation and one copy
 * per frame, whatever the chunking (a multi-MiB Fetch response arrives in 64 KiB chunks). Otherwise the chunks are
 * kept and a frame spanning several is joined once, when complete.
 */
export class ResponseFrames {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Copy mode: the size bytes read so far, the frame being filled (correlation id + body) and how far. */
  private readonly sizeBytes = Buffer.alloc(4);
  private sizeHave = 0;
  private frame: Buffer | null = null;
  private filled = 0;

  constructor(private readonly copy: boolean) {}

  /**
   * Adds received bytes and calls `onFrame` for each complete frame. Returns an error message when the stream is
   * corrupt (a size outside [4, 64 MiB]); the caller then drops the connection.
   */
  push(d: Buffer, onFrame: (correlationId: number, body: Buffer) => void): string | null {
    return this.copy ? this.pushCopy(d, onFrame) : this.pushViews(d, onFrame);
  }

  private pushViews(d: Buffer, onFrame: (correlationId: number, body: Buffer) => void): string | null {
    this.chunks.push(d);
    this.buffered += d.length;
    while (this.buffered >= 4) {
      // The size needs only the first 4 bytes: joining every chunk on each arrival was quadratic in the response
      // size; the frame is joined once, when complete.
      const first = this.chunks[0] as Buffer;
      const head = first.length >= 4 ? first : this.flatten();
      const size = head.readInt32BE(0);
      if (size < 4 || size > MAX_RESPONSE_BYTES) return `malformed response (size ${size})`;
      if (this.buffered < 4 + size) break;
      const frame = this.chunks.length === 1 ? head : this.flatten();
      const body = frame.subarray(8, 4 + size);
      const rest = frame.subarray(4 + size);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      onFrame(frame.readInt32BE(4), body);
    }
    return null;
  }

  private pushCopy(d: Buffer, onFrame: (correlationId: number, body: Buffer) => void): string | null {
    let at = 0;
    while (at < d.length) {
      if (this.frame === null) {
        const n = Math.min(4 - this.sizeHave, d.length - at);
        d.copy(this.sizeBytes, this.sizeHave, at, at + n);
        this.sizeHave += n;
        at += n;
        if (this.sizeHave < 4) break;
        const size = this.sizeBytes.readInt32BE(0);
        if (size < 4 || size > MAX_RESPONSE_BYTES) return `malformed response (size ${size})`;
        this.sizeHave = 0;
        this.frame = Buffer.allocUnsafe(size);
        this.filled = 0;
      }
      const frame = this.frame;
      const n = Math.min(frame.length - this.filled, d.length - at);
      d.copy(frame, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === frame.length) {
        this.frame = null;
        onFrame(frame.readInt32BE(0), frame.subarray(4));
      }
    }
    return null;
  }

  private flatten(): Buffer {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }
}

/** TLS failures that no retry mends (the certificate is not trusted or does not name the broker). */
export class KafkaTlsError extends Error {
  override readonly name = 'KafkaTlsError';
  readonly fatal = true;
  constructor(
    message: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const CERT_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'INVALID_CA',
]);

/** A socket error as the connection reports it: certificate problems become a fatal KafkaTlsError that says what to check. */
export function socketError(address: string, err: Error & { code?: string }): Error {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /altname|hostname|does not match/i.test(err.message))
    return new KafkaTlsError(
      `TLS: the certificate of Kafka ${address} does not name that host (${err.message}); connect with a name the certificate lists (KAFKA_BROKERS, the broker's advertised listeners) or, knowingly, set KAFKA_SSL_CHECK_HOSTNAME=false`,
      code || 'ERR_TLS_CERT_ALTNAME_INVALID',
      { cause: err },
    );
  if (CERT_TRUST_CODES.has(code) || /self.signed|unable to verify|certificate/i.test(err.message))
    return new KafkaTlsError(
      `TLS: Kafka ${address} presented a certificate this client does not trust (${code || err.message}); set KAFKA_SSL_CA_FILE to the CA that signed it`,
      code || 'CERT_UNTRUSTED',
      { cause: err },
    );
  return new Error(`Kafka ${address}: ${err.message}`, { cause: err });
}

/**
 * Request bookkeeping, the handshake, version checks and throttling, independent of the socket API. Subclasses open
 * the socket (`open`, calling `onData` / `fail` from its callbacks), write bytes (`writeChunks`) and destroy it.
 */
export abstract class ConnectionCore {
  private connecting: Promise<void> | null = null;
  private opened = false;
  private readonly pending = new Map<number, PendingRequest>();
  private nextCorrelationId = 1;
  private readonly frames: ResponseFrames;
  protected dead = false;
  private lastError: Error | null = null;
  /** Rejects the pending connect() when the socket fails before it is ready. */
  private connectReject: ((err: Error) => void) | null = null;
  private versions: ApiVersionMap | null = null;
  private sessionExpiresAtMs: number | null = null;
  /** KIP-219: no request leaves before this time (epoch ms). */
  private throttledUntilMs = 0;
  private held: (Buffer | readonly Buffer[])[] = [];
  private heldTimer: ReturnType<typeof setTimeout> | null = null;
  /** Total time the broker asked this connection to hold back. */
  throttledMsTotal = 0;

  constructor(
    protected readonly opts: ConnectionOptions,
    copyFrames: boolean,
  ) {
    this.frames = new ResponseFrames(copyFrames);
  }

  get address(): string {
    return `${this.opts.host}:${this.opts.port}`;
  }

  /** False once the connection failed or was closed, or its SASL session is about to end: the owner replaces it. */
  get usable(): boolean {
    if (this.dead) return false;
    return this.sessionExpiresAtMs === null || Date.now() < this.sessionExpiresAtMs - REAUTH_MARGIN_MS;
  }

  /** The broker's API version ranges (after connect; null when the handshake was skipped). */
  get apiVersions(): ApiVersionMap | null {
    return this.versions;
  }

  /** Opens the socket; resolves once it can carry requests (TCP or TLS connected). */
  protected abstract open(): void;
  protected abstract writeChunks(encoded: Buffer | readonly Buffer[]): void;
  protected abstract destroySocket(): void;

  connect(): Promise<void> {
    if (this.dead) return Promise.reject(this.lastError ?? new Error(`connection to ${this.address} closed`));
    if (this.opened) return Promise.resolve();
    this.connecting ??= new Promise<void>((resolve, reject) => {
      this.connectReject = reject;
      const timer = setTimeout(() => {
        const what = this.socketOpen ? 'handshake (TLS, ApiVersions, SASL)' : 'connect';
        this.fail(new Error(`${what} with Kafka ${this.address} timed out after ${this.opts.connectTimeoutMs} ms`));
      }, this.opts.connectTimeoutMs);
      this.onOpen = () => {
        this.socketOpen = true;
        const done: Promise<HandshakeResult | null> =
          this.opts.handshake === false
            ? Promise.resolve(null)
            : handshake(
                {
                  address: this.address,
                  correlationId: () => this.correlationId(),
                  rawRequest: (i, b) => this.send(i, b),
                },
                this.opts.clientId ?? DEFAULT_CLIENT_ID,
                this.opts.sasl,
              );
        done.then(
          (res) => {
            clearTimeout(timer);
            if (this.dead) return;
            this.versions = res?.versions ?? null;
            this.sessionExpiresAtMs = res?.sessionExpiresAtMs ?? null;
            this.opened = true;
            this.connecting = null;
            this.connectReject = null;
            resolve();
          },
          (err: Error) => {
            clearTimeout(timer);
            this.fail(err);
          },
        );
      };
      this.onClosedEarly = () => clearTimeout(timer);
      try {
        this.open();
      } catch (err) {
        this.fail(err as Error);
      }
    });
    return this.connecting;
  }

  private socketOpen = false;
  /** Set by connect(): the subclass calls it once its socket is connected (after the TLS handshake for TLS). */
  protected onOpen: () => void = () => {};
  private onClosedEarly: () => void = () => {};

  /** Allocates the correlation id that the caller encodes into its request. */
  correlationId(): number {
    const id = this.nextCorrelationId;
    this.nextCorrelationId = id >= 0x7fffffff ? 1 : id + 1;
    return id;
  }

  /**
   * Sends an encoded request (with `correlationId` inside; one Buffer, or chunks written back to back, the first
   * starting with the size prefix and the request header) and resolves with the response body after the header.
   * A version the broker does not serve is refused here with an UnsupportedApiError naming the API.
   */
  request(correlationId: number, encoded: Buffer | readonly Buffer[]): Promise<Buffer> {
    if (this.dead || !this.opened)
      return Promise.reject(this.lastError ?? new Error(`connection to ${this.address} not open`));
    if (this.versions) {
      const head = Buffer.isBuffer(encoded) ? encoded : (encoded[0] as Buffer);
      try {
        checkApiVersion(this.versions, head.readInt16BE(4), head.readInt16BE(6), this.address);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.send(correlationId, encoded);
  }

  private send(correlationId: number, encoded: Buffer | readonly Buffer[]): Promise<Buffer> {
    if (this.dead) return Promise.reject(this.lastError ?? new Error(`connection to ${this.address} closed`));
    if (this.pending.size >= (this.opts.maxPending ?? 64))
      return Promise.reject(new Error(`too many requests waiting on Kafka ${this.address}`));
    const head = Buffer.isBuffer(encoded) ? encoded : (encoded[0] as Buffer);
    const apiKey = head.readInt16BE(4);
    const version = head.readInt16BE(6);
    const holdMs = Math.max(0, this.throttledUntilMs - Date.now());
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.fail(
            new Error(
              `Kafka ${this.address} did not answer ${apiName(apiKey)} within ${this.opts.requestTimeoutMs} ms`,
            ),
          ),
        this.opts.requestTimeoutMs + holdMs,
      );
      this.pending.set(correlationId, { resolve, reject, timer, apiKey, version });
      if (holdMs > 0 || this.held.length > 0) this.hold(encoded, holdMs);
      else this.writeChunks(encoded);
    });
  }

  /** Queues a request while the broker's throttle lasts; all held requests leave in order when it ends. */
  private hold(encoded: Buffer | readonly Buffer[], holdMs: number): void {
    this.held.push(encoded);
    this.armHeld(holdMs);
  }

  private armHeld(ms: number): void {
    if (this.heldTimer) return;
    this.heldTimer = setTimeout(() => {
      this.heldTimer = null;
      if (this.dead) return;
      const wait = this.throttledUntilMs - Date.now();
      if (wait > 0) {
        this.armHeld(wait); // throttled again meanwhile
        return;
      }
      const out = this.held;
      this.held = [];
      for (const e of out) this.writeChunks(e);
    }, ms);
  }

  protected onData(d: Buffer): void {
    if (this.dead) return;
    // A TLS record (alert 0x15, handshake 0x16, version 3.x) where a Kafka frame should be: a TLS listener.
    if (!this.opened && !this.opts.tls && d.length >= 2 && (d[0] === 0x15 || d[0] === 0x16) && d[1] === 0x03) {
      this.fail(
        new Error(
          `Kafka ${this.address} answered with TLS: this listener needs KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL`,
        ),
      );
      return;
    }
    const corrupt = this.frames.push(d, (correlationId, body) => this.answer(correlationId, body));
    if (corrupt) this.fail(new Error(`Kafka ${this.address} sent a ${corrupt}`));
  }

  private answer(correlationId: number, body: Buffer): void {
    const p = this.pending.get(correlationId);
    if (!p) return; // a late answer to a request that was given up
    this.pending.delete(correlationId);
    clearTimeout(p.timer);
    const throttleMs = throttleTimeMs(p.apiKey, p.version, body);
    if (throttleMs > 0) {
      this.throttledUntilMs = Math.max(this.throttledUntilMs, Date.now() + throttleMs);
      this.throttledMsTotal += throttleMs;
      this.opts.onThrottle?.(throttleMs, p.apiKey);
    }
    p.resolve(body);
    if (this.retiring && this.pending.size === 0) this.close();
  }

  /** Fails every waiting request and destroys the socket; the connection is not used again. */
  protected fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.lastError = err;
    this.onClosedEarly();
    this.connectReject?.(err);
    this.connectReject = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.held = [];
    if (this.heldTimer) clearTimeout(this.heldTimer);
    this.destroySocket();
  }

  /** A close before the connection was ready says more when it names the likely cause. */
  protected closedMessage(): string {
    if (this.opened) return `Kafka ${this.address} closed the connection`;
    const security = this.opts.tls
      ? this.opts.sasl
        ? 'SASL_SSL'
        : 'SSL'
      : this.opts.sasl
        ? 'SASL_PLAINTEXT'
        : 'PLAINTEXT';
    return `Kafka ${this.address} closed the connection during the handshake (is KAFKA_SECURITY_PROTOCOL ${security} what this listener expects?)`;
  }

  /** Closes the connection once its waiting requests are answered (it was replaced, e.g. its SASL session ends). */
  retire(): void {
    this.retiring = true;
    if (this.pending.size === 0) this.close();
  }
  private retiring = false;

  close(): void {
    this.fail(new Error(`connection to ${this.address} closed`));
  }
}

/** The connection on node:net, or node:tls when TLS is configured (Node, and Bun where its native sockets are off). */
export class BrokerConnection extends ConnectionCore {
  private socket: Socket | null = null;
  private corked = false;

  constructor(opts: ConnectionOptions) {
    super(opts, READ_INTO_STATIC_BUFFER && !opts.tls);
  }

  protected open(): void {
    const { host, port, tls } = this.opts;
    let socket: Socket;
    if (tls) {
      socket = tlsConnect({ host, port, ...tlsConnectOptions(tls, host) });
      socket.on('data', (d: Buffer) => this.onData(d));
    } else if (READ_INTO_STATIC_BUFFER) {
      // Reads land in one 64 KiB buffer per connection and each frame is copied out once (ResponseFrames copy mode):
      // a Fetch response then allocates its own size once instead of its size in socket chunks plus a joined copy,
      // which halves the external memory that drives the transformer's major GCs.
      const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      socket = netConnect({
        host,
        port,
        onread: {
          buffer,
          callback: (n: number) => {
            this.onData(buffer.subarray(0, n));
            return true;
          },
        },
      });
    } else {
      socket = netConnect({ host, port });
      socket.on('data', (d: Buffer) => this.onData(d));
    }
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.once(tls ? 'secureConnect' : 'connect', () => this.onOpen());
    socket.on('error', (err) => this.fail(socketError(this.address, err)));
    socket.on('close', () => this.fail(new Error(this.closedMessage())));
  }

  /**
   * Requests sent in the same tick leave in one writev: on loopback or a VM every write syscall wakes the broker
   * and costs ~50-100 µs of CPU, more than encoding a 250-record batch (measured in kafka-wire's README).
   */
  protected writeChunks(encoded: Buffer | readonly Buffer[]): void {
    const socket = this.socket as Socket;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    if (Buffer.isBuffer(encoded)) socket.write(encoded);
    else for (const chunk of encoded) socket.write(chunk);
  }

  protected destroySocket(): void {
    this.socket?.destroy();
  }
}

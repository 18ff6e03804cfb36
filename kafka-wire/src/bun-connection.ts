/**
 * One connection to one Kafka broker on Bun's native sockets (`Bun.connect`, with its `tls` option for SSL), with the
 * same surface and guarantees as `BrokerConnection` in connection.ts: both extend `ConnectionCore`
 * (correlation ids, the handshake with ApiVersions and SASL, version checks, throttling, timeouts, the pending cap;
 * any socket error, close or timeout fails every waiting request and the connection is never used again). This file
 * only opens, writes and closes the socket. Why a second socket implementation: on Bun, node:net's stream layer cost
 * ~1 µs of CPU per produced record on the HTTP core (9.7 → 8.7 µs per record in bench/edge/sink-cpu.ts); the native
 * socket writes the encoded request directly. Node keeps using node:net / node:tls.
 */

import { tlsConnectOptions } from '@pep/contracts/kafka-security';
import { ConnectionCore, type ConnectionOptions, socketError } from './connection.ts';

/** The subset of Bun's socket this module uses (no bun-types in this workspace). */
interface BunSocket {
  write(data: Uint8Array): number;
  end(): void;
  terminate?(): void;
  setNoDelay?(noDelay: boolean): boolean;
  setKeepAlive?(enable: boolean, initialDelayMs: number): boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: Bun's global is untyped here (no bun-types in this workspace)
const BunGlobal = (globalThis as any).Bun as any;

/** True when running on Bun (the only runtime where this connection can be used). */
export const bunSocketsAvailable = (): boolean => typeof BunGlobal?.connect === 'function';

/** Bun's `tls` option from the platform's TLS settings (the same CA, client certificate and hostname check). */
function bunTlsOptions(opts: ConnectionOptions) {
  if (!opts.tls) return undefined;
  const o = tlsConnectOptions(opts.tls, opts.host);
  return {
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.cert ? { cert: o.cert } : {}),
    ...(o.key ? { key: o.key } : {}),
    // Bun verifies the name against serverName (the host when it is a name; an IP is checked against IP SANs).
    serverName: opts.host,
    rejectUnauthorized: true,
    ...(o.checkServerIdentity ? { checkServerIdentity: o.checkServerIdentity } : {}),
  };
}

export class BunBrokerConnection extends ConnectionCore {
  private socket: BunSocket | null = null;
  /** Bytes the kernel did not take yet (written on `drain`, in order). */
  private outgoing: Uint8Array[] = [];

  constructor(opts: ConnectionOptions) {
    super(opts, true); // Bun reuses the buffer it hands to `data`: bodies and partial frames are copied out
  }

  protected open(): void {
    const tls = bunTlsOptions(this.opts);
    BunGlobal.connect({
      hostname: this.opts.host,
      port: this.opts.port,
      ...(tls ? { tls } : {}),
      socket: {
        // After the TLS handshake on a TLS socket (Bun calls `handshake` first, `open` for plain TCP).
        open: (s: BunSocket) => {
          if (!tls) this.opened_(s);
        },
        handshake: (s: BunSocket, success: boolean, authorizationError: Error | null) => {
          if (success && !authorizationError) this.opened_(s);
          else
            this.fail(
              socketError(
                this.address,
                (authorizationError ?? new Error('TLS handshake failed')) as Error & {
                  code?: string;
                },
              ),
            );
        },
        data: (_s: BunSocket, d: Buffer) => this.onData(d),
        drain: () => this.flushOutgoing(),
        close: () => this.fail(new Error(this.closedMessage())),
        end: () => this.fail(new Error(this.closedMessage())),
        error: (_s: BunSocket, err: Error) => this.fail(socketError(this.address, err)),
        connectError: (_s: BunSocket, err: Error) => this.fail(socketError(this.address, err)),
      },
    }).then(
      (socket: BunSocket) => {
        if (this.dead) socket.end(); // failed or closed while connecting: connect() was rejected by fail()
      },
      (err: Error) => this.fail(socketError(this.address, err)),
    );
  }

  private opened_(s: BunSocket): void {
    if (this.dead || this.socket) return;
    s.setNoDelay?.(true);
    s.setKeepAlive?.(true, 60_000);
    this.socket = s;
    this.onOpen();
  }

  /** `encoded` is not kept: bytes the kernel did not take are copied, so the caller may reuse the buffer at once. */
  protected writeChunks(encoded: Buffer | readonly Buffer[]): void {
    for (const chunk of Buffer.isBuffer(encoded) ? [encoded] : encoded) {
      if (this.outgoing.length > 0) this.outgoing.push(Buffer.from(chunk));
      else {
        const n = (this.socket as BunSocket).write(chunk);
        if (n < 0) {
          this.fail(new Error(`Kafka ${this.address}: write failed`));
          return;
        }
        if (n < chunk.byteLength) this.outgoing.push(Buffer.from(chunk.subarray(n)));
      }
    }
  }

  private flushOutgoing(): void {
    while (this.outgoing.length > 0 && this.socket && !this.dead) {
      const head = this.outgoing[0] as Uint8Array;
      const n = this.socket.write(head);
      if (n < 0) {
        this.fail(new Error(`Kafka ${this.address}: write failed`));
        return;
      }
      if (n < head.byteLength) {
        this.outgoing[0] = head.subarray(n);
        return; // the next drain continues
      }
      this.outgoing.shift();
    }
  }

  protected destroySocket(): void {
    this.outgoing = [];
    const s = this.socket;
    this.socket = null;
    if (s) {
      if (s.terminate) s.terminate();
      else s.end();
    }
  }
}

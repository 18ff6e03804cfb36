/**
 * One TCP connection to one Kafka broker: size-prefixed requests with correlation ids, responses matched back to
 * their request. Nagle off (a request/response protocol). Bounded: a connect timeout, a per-request timeout, and a cap
 * on requests waiting for an answer. Any socket error, close or timeout fails every waiting request and destroys the
 * connection (the owner opens a new one); a late answer to a request that was given up is ignored.
 */

import { connect, type Socket } from 'node:net';

export interface ConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Requests awaiting an answer on this connection at most. */
  readonly maxPending?: number;
}

interface PendingRequest {
  readonly resolve: (body: Buffer) => void;
  readonly reject: (err: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Largest response accepted (a produce or metadata answer is a few KiB; this is a corruption guard). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * Cuts a broker's byte stream into response frames (4-byte size, correlation id, body). Shared by every connection
 * implementation (this one on node:net, the edge's on Bun's sockets). `copy`: the runtime may reuse the buffers it
 * hands to the data callback (Bun does), so bodies and a partial frame left over are copied out.
 */
export class ResponseFrames {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly copy: boolean) {}

  /**
   * Adds received bytes and calls `onFrame` for each complete frame. Returns an error message when the stream is
   * corrupt (a size outside [4, 64 MiB]); the caller then drops the connection.
   */
  push(d: Buffer, onFrame: (correlationId: number, body: Buffer) => void): string | null {
    this.chunks.push(d);
    this.buffered += d.length;
    while (this.buffered >= 4) {
      // The size needs only the first 4 bytes: joining every chunk on each arrival was quadratic in the response
      // size (a multi-MiB Fetch response arrives in 64 KiB chunks); the frame is joined once, when complete.
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
      onFrame(frame.readInt32BE(4), this.copy ? Buffer.from(body) : body);
    }
    if (this.copy && this.buffered > 0) this.flatten();
    return null;
  }

  private flatten(): Buffer {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }
}

export class BrokerConnection {
  private socket: Socket | null = null;
  private connecting: Promise<void> | null = null;
  private readonly pending = new Map<number, PendingRequest>();
  private nextCorrelationId = 1;
  private readonly frames = new ResponseFrames(false);
  private dead = false;
  private corked = false;
  private lastError: Error | null = null;
  /** Rejects the pending connect() when the socket fails before 'connect'. */
  private connectReject: ((err: Error) => void) | null = null;

  constructor(private readonly opts: ConnectionOptions) {}

  get address(): string {
    return `${this.opts.host}:${this.opts.port}`;
  }

  /** False once the connection failed or was closed: the owner replaces it. */
  get usable(): boolean {
    return !this.dead;
  }

  connect(): Promise<void> {
    if (this.dead) return Promise.reject(this.lastError ?? new Error(`connection to ${this.address} closed`));
    if (this.socket && !this.connecting) return Promise.resolve();
    this.connecting ??= new Promise<void>((resolve, reject) => {
      // A failure before 'connect' must reject this promise too (see fail()).
      this.connectReject = reject;
      const socket = connect({ host: this.opts.host, port: this.opts.port });
      this.socket = socket;
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
      const timer = setTimeout(
        () => this.fail(new Error(`connect to Kafka ${this.address} timed out after ${this.opts.connectTimeoutMs} ms`)),
        this.opts.connectTimeoutMs,
      );
      socket.once('connect', () => {
        clearTimeout(timer);
        this.connecting = null;
        this.connectReject = null;
        resolve();
      });
      socket.on('data', (d: Buffer) => this.onData(d));
      socket.on('error', (err) => {
        clearTimeout(timer);
        this.fail(new Error(`Kafka ${this.address}: ${err.message}`, { cause: err }));
      });
      socket.on('close', () => {
        clearTimeout(timer);
        this.fail(new Error(`Kafka ${this.address} closed the connection`));
      });
    });
    return this.connecting;
  }

  /** Allocates the correlation id that the caller encodes into its request. */
  correlationId(): number {
    const id = this.nextCorrelationId;
    this.nextCorrelationId = id >= 0x7fffffff ? 1 : id + 1;
    return id;
  }

  /**
   * Sends an encoded request (with `correlationId` inside; one Buffer, or chunks written back to back, the first
   * starting with the size prefix) and resolves with the response body after the header.
   */
  request(correlationId: number, encoded: Buffer | readonly Buffer[]): Promise<Buffer> {
    if (this.dead || !this.socket)
      return Promise.reject(this.lastError ?? new Error(`connection to ${this.address} not open`));
    if (this.pending.size >= (this.opts.maxPending ?? 64))
      return Promise.reject(new Error(`too many requests waiting on Kafka ${this.address}`));
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new Error(`Kafka ${this.address} did not answer within ${this.opts.requestTimeoutMs} ms`)),
        this.opts.requestTimeoutMs,
      );
      this.pending.set(correlationId, { resolve, reject, timer });
      this.write(encoded);
    });
  }

  /**
   * Requests sent in the same tick leave in one writev: on loopback or a VM every write syscall wakes the broker
   * and costs ~50-100 µs of CPU, more than encoding a 250-record batch (measured in kafka-wire's README).
   */
  private write(encoded: Buffer | readonly Buffer[]): void {
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

  private onData(d: Buffer): void {
    const corrupt = this.frames.push(d, (correlationId, body) => this.answer(correlationId, body));
    if (corrupt) this.fail(new Error(`Kafka ${this.address} sent a ${corrupt}`));
  }

  private answer(correlationId: number, body: Buffer): void {
    const p = this.pending.get(correlationId);
    if (!p) return; // a late answer to a request that was given up
    this.pending.delete(correlationId);
    clearTimeout(p.timer);
    p.resolve(body);
  }

  /** Fails every waiting request and destroys the socket; the connection is not used again. */
  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.lastError = err;
    this.connectReject?.(err);
    this.connectReject = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.socket?.destroy();
  }

  close(): void {
    this.fail(new Error(`connection to ${this.address} closed`));
  }
}

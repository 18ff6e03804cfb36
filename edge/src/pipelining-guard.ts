/**
 * Work-around for Bun.serve closing a connection, without any answer, when a request is pipelined behind one whose
 * answer is still pending (uWS "denying async pipelining": issue 13 found three pipelined webhooks and a GET answered
 * by nothing, the first stored and the others lost to the client; Bun 1.4.4 and 1.4.5, the latest on npm, both do it).
 * The guard owns the public port (Bun.listen) and hands Bun.serve, listening on a private unix socket, one request at a
 * time per connection: it forwards a request, holds the bytes after it until the answer to it has gone back, then
 * forwards the next. Framing is strict (http-framing.ts): what it cannot frame unambiguously is answered 4xx and the
 * connection closed, so the guard and Bun.serve never disagree on where a request ends. The client's address goes to
 * the app in a header the guard sets (any client-sent copy is dropped). `EDGE_PIPELINING_GUARD=off` serves Bun.serve
 * on the port directly (behind a proxy that never pipelines, e.g. a load balancer, the guard is not needed).
 */
import { FramingError, RequestFramer, ResponseFramer } from './http-framing.ts';

/** Header carrying the client's address from the guard to the app. */
export const PEER_HEADER = 'x-pep-peer';
/** Largest request head the guard accepts (Bun's own limit is lower; this only bounds the guard's buffer). */
const MAX_HEAD_BYTES = 64 * 1024;
/**
 * Lingering close (as nginx's lingering_close): a connection refused while its client is still sending gets a FIN
 * after its answer, and what the client sends meanwhile is read and dropped for at most this long before the socket
 * closes. Closing at once, with client bytes unread, makes the kernel send a reset that can discard the answer before
 * the client read it (the client saw an empty answer to an endless body).
 */
const LINGER_MS = 2000;
/** A client silent this long (seconds) while no answer is pending is disconnected (slow-loris bound). */

interface BunSocket {
  write(data: Uint8Array): number;
  end(): void;
  /** shutdown(2) of the write side: a FIN after what was written; the socket still receives. */
  shutdown?(): void;
  terminate?(): void;
  timeout?(seconds: number): void;
  setNoDelay?(noDelay: boolean): boolean;
  readonly remoteAddress?: string;
  data: Conn;
}

// biome-ignore lint/suspicious/noExplicitAny: Bun's global is untyped here (no bun-types in this workspace)
const BunGlobal = (globalThis as any).Bun as any;

/** Queued writes of one socket (what the kernel did not take yet), flushed on drain. */
class Outgoing {
  private queue: Uint8Array[] = [];
  /** Bytes queued (not taken by the kernel yet). */
  queued = 0;
  constructor(private readonly sink: () => BunSocket | null) {}

  get empty(): boolean {
    return this.queue.length === 0;
  }

  write(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.queue.length > 0 || !this.sink()) {
      this.queue.push(Uint8Array.from(bytes));
      this.queued += bytes.length;
      return;
    }
    const n = Math.max(0, (this.sink() as BunSocket).write(bytes));
    if (n < bytes.length) {
      this.queue.push(Uint8Array.from(bytes.subarray(n)));
      this.queued += bytes.length - n;
    }
  }

  flush(): void {
    const s = this.sink();
    if (!s) return;
    while (this.queue.length > 0) {
      const head = this.queue[0] as Uint8Array;
      const n = Math.max(0, s.write(head));
      this.queued -= Math.min(n, head.length);
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
  }
}

class Conn {
  upstream: BunSocket | null = null;
  upstreamStarted = false;
  inBuf: Buffer = Buffer.alloc(0);
  respBuf: Buffer = Buffer.alloc(0);
  /** Method of the request being answered (null: none in flight). */
  awaiting: string | null = null;
  /** The request in flight has been forwarded whole: the next one waits for its answer. */
  forwarded = false;
  closeAfterAnswer = false;
  closing = false;
  /** Over the bound while a request is still being forwarded: further client bytes are dropped unread. */
  discarding = false;
  /** Bytes of the answer to the request in flight have come from Bun.serve. */
  answerStarted = false;
  /** Answered and half-closed: the client's last bytes are dropped until it closes or LINGER_MS passes. */
  lingering = false;
  /** When bytes last came from the client or an answer last went out (the idle timeout counts from here). */
  lastActive = Date.now();
  readonly requests: RequestFramer;
  responses = new ResponseFramer();
  readonly toUpstream = new Outgoing(() => this.upstream);
  readonly toClient: Outgoing;

  constructor(
    readonly client: BunSocket,
    peer: string,
  ) {
    this.requests = new RequestFramer(MAX_HEAD_BYTES, { name: PEER_HEADER, value: peer });
    this.toClient = new Outgoing(() => this.client);
  }
}

function errorAnswer(status: number, message: string): Uint8Array {
  const reason =
    status === 431 ? 'Request Header Fields Too Large' : status === 501 ? 'Not Implemented' : 'Bad Request';
  const body = JSON.stringify({ error: { code: 'malformed_http', message } });
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The edge's 413 (CONTRACT error body) for a request whose body went over what the guard holds. */
function tooLargeAnswer(): Uint8Array {
  const body = JSON.stringify({
    error: { code: 'body_too_large', message: 'body exceeds the size the edge accepts' },
  });
  return Buffer.from(
    `HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export interface PipeliningGuard {
  readonly port: number;
  stop(): void;
}

export interface PipeliningGuardOptions {
  hostname: string;
  port: number;
  upstreamUnix: string;
  /**
   * Bytes held for one connection at most (pipelined requests waiting for the answer ahead of them, plus bytes
   * Bun.serve has not read yet): memory stays bounded whatever a client sends. The server passes twice the body limit.
   */
  maxHeldBytes: number;
  /**
   * Seconds a client connection may stay silent with no answer pending before it is closed (default 30). Bun's socket
   * timeout fires that long after it was set whatever the traffic (measured: data every 300 ms, a 2 s timeout fired
   * at 4 s), so the timeout handler checks the last activity and re-arms: a busy kept-alive connection is never cut
   * between two of its requests.
   */
  idleTimeoutS?: number;
  onError?: (err: Error) => void;
}

/** What the guard does with each connection's events: the client socket's, Bun.serve's upstream socket's. */
class Guard {
  readonly idleS: number;
  /** Upstream sockets already handled as gone (their end, error and close events all come to upstreamGone). */
  private readonly gone = new WeakSet<BunSocket>();

  constructor(private readonly opts: PipeliningGuardOptions) {
    this.idleS = opts.idleTimeoutS ?? 30;
  }

  /** Closes both sides once what the client is owed has been written (the rest on drain). */
  end(c: Conn): void {
    c.closing = true;
    c.toClient.flush();
    if (!c.toClient.empty || c.lingering) return;
    c.upstream?.end();
    if (c.discarding && c.client.shutdown) {
      c.lingering = true;
      c.client.shutdown();
      setTimeout(() => c.client.end(), LINGER_MS).unref?.();
      return;
    }
    c.client.end();
  }

  /**
   * Bun.serve closed an upstream connection. Between requests (its idle timeout on a kept-alive connection) the
   * client's connection stays open and the next request opens a new upstream one; during a request (a Connection:
   * close answer, a failure) the client gets what was sent, then the connection closes. Each upstream socket is
   * handled once.
   */
  private upstreamGone(c: Conn, u: BunSocket): void {
    if (this.gone.has(u)) return;
    this.gone.add(u);
    if (c.upstream !== u) return; // an older upstream connection
    if (c.discarding && c.awaiting !== null && !c.answerStarted) {
      // Bun.serve refuses a body over its limit and closes; when it closes with the rest of the body unread, its
      // 413 can be lost on the way (seen in CI: the client got an empty answer). The guard knows the body went over
      // the bound, so the client still gets the contract's 413 before the connection closes.
      c.toClient.write(tooLargeAnswer());
      c.awaiting = null;
      this.end(c);
      return;
    }
    if (!c.closing && c.awaiting === null && c.inBuf.length === 0 && c.toUpstream.empty) {
      c.upstream = null;
      c.upstreamStarted = false;
      c.responses = new ResponseFramer();
      c.respBuf = Buffer.alloc(0);
      return;
    }
    this.end(c);
  }

  private connectUpstream(c: Conn): void {
    if (c.upstreamStarted) return;
    c.upstreamStarted = true;
    BunGlobal.connect({
      unix: this.opts.upstreamUnix,
      socket: {
        open: (u: BunSocket) => {
          u.data = c;
          c.upstream = u;
          // The client left while this connection was opening: its unfinished request is not handed on.
          if (c.closing) u.end();
          else c.toUpstream.flush();
        },
        data: (_u: BunSocket, d: Buffer) => this.onUpstream(c, d),
        drain: () => c.toUpstream.flush(),
        close: (u: BunSocket) => this.upstreamGone(c, u),
        end: (u: BunSocket) => this.upstreamGone(c, u),
        error: (u: BunSocket) => this.upstreamGone(c, u),
        connectError: (_u: BunSocket, err: Error) => {
          this.opts.onError?.(err);
          this.end(c);
        },
      },
    });
  }

  /** Forwards client bytes of the current request; holds the rest until its answer is complete. */
  private pump(c: Conn): void {
    while (!c.closing && !(c.awaiting !== null && c.forwarded) && c.inBuf.length > 0) {
      let step: ReturnType<RequestFramer['step']>;
      try {
        step = c.requests.step(c.inBuf);
      } catch (err) {
        if (!(err instanceof FramingError)) throw err;
        if (c.awaiting === null) c.toClient.write(errorAnswer(err.status, err.message));
        // A request is still being answered: its answer goes out, then the connection closes.
        if (c.awaiting === null) this.end(c);
        else c.closeAfterAnswer = true;
        c.inBuf = Buffer.alloc(0);
        return;
      }
      if (!step) return; // the head is not complete yet
      if (step.method !== undefined) {
        c.awaiting = step.method;
        c.forwarded = false;
        if (step.close) c.closeAfterAnswer = true;
        this.connectUpstream(c);
      }
      for (const b of step.forward) c.toUpstream.write(b);
      c.inBuf = c.inBuf.subarray(step.consumed);
      if (step.complete) c.forwarded = true;
      if (step.consumed === 0) return;
    }
  }

  private onUpstream(c: Conn, d: Buffer): void {
    if (c.awaiting !== null) c.answerStarted = true;
    c.toClient.write(d);
    // Bun reuses the buffer it hands to `data`: framed at once, and what is left is copied (below).
    c.respBuf = c.respBuf.length === 0 ? d : Buffer.concat([c.respBuf, d]);
    try {
      this.frameAnswers(c);
    } finally {
      if (c.respBuf.length > 0 && c.respBuf.buffer === d.buffer) c.respBuf = Buffer.from(c.respBuf);
    }
  }

  private frameAnswers(c: Conn): void {
    for (;;) {
      let step: ReturnType<ResponseFramer['step']>;
      try {
        step = c.responses.step(c.respBuf, c.awaiting ?? 'GET');
      } catch (err) {
        this.opts.onError?.(err as Error);
        this.end(c);
        return;
      }
      if (!step) return;
      c.respBuf = c.respBuf.subarray(step.consumed);
      if (!step.complete) {
        if (step.consumed === 0 || c.respBuf.length === 0) return;
        continue;
      }
      c.awaiting = null;
      c.answerStarted = false;
      c.forwarded = false;
      c.lastActive = Date.now();
      if (step.close || c.closeAfterAnswer) {
        this.end(c);
        return;
      }
      this.pump(c);
      if (c.respBuf.length === 0) return;
    }
  }

  /** Bytes from the client: forwarded or held, within the bound of what one connection may hold. */
  clientData(c: Conn, d: Buffer): void {
    if (c.closing || c.discarding) return; // refused, closing or over the bound: nothing more is read
    c.lastActive = Date.now();
    // Bun reuses the buffer it hands to `data`: forwarded at once when possible, what is held is copied.
    c.inBuf = c.inBuf.length === 0 ? d : Buffer.concat([c.inBuf, d]);
    this.pump(c);
    if (c.inBuf.length > 0 && c.inBuf.buffer === d.buffer) c.inBuf = Buffer.from(c.inBuf);
    if (c.inBuf.length + c.toUpstream.queued > this.opts.maxHeldBytes) {
      // Too much held. Pipelined requests behind a pending answer are dropped, or the rest of a body Bun.serve
      // does not read (the app refuses bodies over its limit with 413 and Connection: close): the answer still
      // goes out, then the connection closes, as HTTP allows.
      c.inBuf = Buffer.alloc(0);
      c.closeAfterAnswer = true;
      if (!c.forwarded) c.discarding = true;
      if (c.awaiting === null) this.end(c);
    }
  }

  /** The client socket's timeout: a slow or idle client is closed; waiting for an answer is not idleness. */
  clientTimeout(s: BunSocket): void {
    const silentMs = Date.now() - s.data.lastActive;
    if (s.data.awaiting === null && silentMs >= this.idleS * 1000) this.end(s.data);
    else s.timeout?.(s.data.awaiting === null ? Math.max(1, Math.ceil(this.idleS - silentMs / 1000)) : this.idleS);
  }
}

export function startPipeliningGuard(opts: PipeliningGuardOptions): PipeliningGuard {
  const guard = new Guard(opts);
  const server = BunGlobal.listen({
    hostname: opts.hostname,
    port: opts.port,
    socket: {
      open: (s: BunSocket) => {
        s.setNoDelay?.(true);
        s.timeout?.(guard.idleS);
        s.data = new Conn(s, s.remoteAddress ?? 'unknown');
      },
      data: (s: BunSocket, d: Buffer) => guard.clientData(s.data, d),
      drain: (s: BunSocket) => {
        s.data.toClient.flush();
        if (s.data.closing) guard.end(s.data);
      },
      timeout: (s: BunSocket) => guard.clientTimeout(s),
      close: (s: BunSocket) => {
        s.data.closing = true;
        s.data.upstream?.end();
      },
      error: (s: BunSocket) => guard.end(s.data),
    },
  });
  return { port: server.port as number, stop: () => server.stop(true) };
}

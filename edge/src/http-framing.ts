/**
 * HTTP/1.1 message framing for the pipelining guard (pipelining-guard.ts): where one request or response ends in a
 * byte stream, so requests written back to back on one connection can be handed to Bun.serve one at a time. Strict on
 * purpose: anything whose framing could be read two ways (Content-Length with Transfer-Encoding, two lengths, a coding
 * other than `chunked`, folded or malformed header lines, a bad chunk) is refused with a status, never guessed at, so
 * the guard and Bun.serve can never disagree on where a request ends (request smuggling). Pure: no I/O, unit-tested.
 */

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;
/** Largest chunk-size line (with extensions) and trailer section accepted. */
const MAX_LINE = 4096;

export class FramingError extends Error {
  constructor(
    readonly status: 400 | 431 | 501,
    message: string,
  ) {
    super(message);
  }
}

interface Head {
  /** The head as text (Latin-1), without the final empty line. */
  readonly text: string;
  /** The framing headers only (content-length, transfer-encoding, connection, and the guard's peer header). */
  readonly headers: Map<string, string[]>;
  /** Bytes of the head, final CRLF CRLF included. */
  readonly bytes: number;
}

// A well-formed head: a first line, then header lines `token: value` without control characters (no folded lines).
const HEAD_SHAPE = /^[^\r\n]*\r\n(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n\0]*\r\n)*$/;
const FRAMING_HEADER = /\r\n(content-length|transfer-encoding|connection|x-pep-peer)[ \t]*:[ \t]*([^\r\n]*)/gi;

function parseHead(buf: Buffer, maxBytes: number, validate: boolean): Head | null {
  const end = buf.indexOf(HEAD_END);
  if (end < 0) {
    if (buf.length > maxBytes) throw new FramingError(431, 'request head too large');
    return null;
  }
  if (end + 4 > maxBytes) throw new FramingError(431, 'request head too large');
  const text = buf.toString('latin1', 0, end);
  if (validate && !HEAD_SHAPE.test(`${text}\r\n`)) throw new FramingError(400, 'malformed header line');
  const headers = new Map<string, string[]>();
  for (const m of text.matchAll(FRAMING_HEADER)) {
    const key = (m[1] as string).toLowerCase();
    const list = headers.get(key) ?? [];
    list.push((m[2] as string).trim());
    headers.set(key, list);
  }
  return { text, headers, bytes: end + 4 };
}

/** Body length rules shared by requests and responses: `chunked`, a length, or none. */
function bodyOf(headers: Map<string, string[]>): { chunked: true } | { length: number } | null {
  const te = headers.get('transfer-encoding');
  const cl = headers.get('content-length');
  if (te && cl) throw new FramingError(400, 'both Content-Length and Transfer-Encoding');
  if (te) {
    if (te.length !== 1 || (te[0] as string).toLowerCase() !== 'chunked')
      throw new FramingError(501, 'unsupported Transfer-Encoding (only chunked)');
    return { chunked: true };
  }
  if (cl) {
    if (cl.length !== 1 || !/^\d{1,15}$/.test(cl[0] as string)) throw new FramingError(400, 'bad Content-Length');
    return { length: Number(cl[0]) };
  }
  return null;
}

/** Walks a chunked body; call `take` with the bytes available; it says how many belong to the body. */
class ChunkedWalker {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  private remaining = 0;
  private pending = Buffer.alloc(0);
  done = false;

  /** Bytes of `buf` (from its start) that belong to the body; done is set when the body ended within them. */
  take(buf: Buffer): number {
    let at = 0;
    while (at < buf.length && !this.done) {
      if (this.state === 'data') {
        const n = Math.min(this.remaining, buf.length - at);
        at += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'data-crlf';
        continue;
      }
      // A line (size line, the CRLF after data, a trailer line): bounded; it may end in a later piece.
      const joined = this.pending.length > 0 ? Buffer.concat([this.pending, buf.subarray(at)]) : buf.subarray(at);
      const nl = joined.indexOf(CRLF);
      if (nl < 0) {
        if (joined.length > MAX_LINE) throw new FramingError(400, 'chunk line too long');
        this.pending = Buffer.from(joined);
        return buf.length;
      }
      if (nl > MAX_LINE) throw new FramingError(400, 'chunk line too long');
      const line = joined.toString('latin1', 0, nl);
      at += nl + 2 - this.pending.length;
      this.pending = Buffer.alloc(0);
      if (this.state === 'data-crlf') {
        if (line !== '') throw new FramingError(400, 'chunk data not followed by CRLF');
        this.state = 'size';
      } else if (this.state === 'size') {
        const m = /^([0-9A-Fa-f]{1,12})(;.*)?$/.exec(line);
        if (!m) throw new FramingError(400, 'bad chunk size');
        this.remaining = Number.parseInt(m[1] as string, 16);
        this.state = this.remaining === 0 ? 'trailer' : 'data';
      } else if (line === '') this.done = true;
      else if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/.test(line)) throw new FramingError(400, 'bad trailer line');
    }
    return at;
  }
}

export interface RequestStep {
  /** Bytes to forward now (a rewritten head, or body bytes as they are). */
  readonly forward: Buffer[];
  /** Bytes consumed from the input. */
  readonly consumed: number;
  /** The request ended within the consumed bytes. */
  readonly complete: boolean;
  /** Set with the head: the request asks to close the connection after its answer. */
  readonly close?: boolean;
  /** Set with the head: the method (a HEAD request's answer has no body). */
  readonly method?: string;
}

/** The body of one message: a chunked walk, or the bytes its length still owes. */
class BodyWalker {
  private readonly chunked: ChunkedWalker | null;
  private remaining: number;

  constructor(body: ReturnType<typeof bodyOf>) {
    this.chunked = body && 'chunked' in body ? new ChunkedWalker() : null;
    this.remaining = body && 'length' in body ? body.length : 0;
  }

  /** How many bytes of `buf` belong to the body, and whether the body ends within them. */
  take(buf: Buffer): { n: number; complete: boolean } {
    if (this.chunked) {
      const n = this.chunked.take(buf);
      return { n, complete: this.chunked.done };
    }
    const n = Math.min(this.remaining, buf.length);
    this.remaining -= n;
    return { n, complete: this.remaining === 0 };
  }
}

/**
 * Frames the requests of one client connection. `step` takes the bytes received and not yet consumed; it returns what
 * to forward for the current request. `peerHeader` (name and value) replaces any such header the client sent.
 */
export class RequestFramer {
  /** The body of the current request; null while its head is awaited. */
  private body: BodyWalker | null = null;

  constructor(
    private readonly maxHeadBytes: number,
    private readonly peerHeader: { name: string; value: string } | null,
  ) {}

  step(buf: Buffer): RequestStep | null {
    if (this.body === null) {
      const h = parseHead(buf, this.maxHeadBytes, true);
      if (!h) return null;
      const firstEnd = h.text.indexOf('\r\n');
      const m = REQUEST_LINE.exec(firstEnd < 0 ? h.text : h.text.slice(0, firstEnd));
      if (!m) throw new FramingError(400, 'malformed request line');
      const body = bodyOf(h.headers);
      const http10 = m[3] === '0';
      if (http10 && body && 'chunked' in body) throw new FramingError(400, 'chunked on HTTP/1.0');
      const conn = (h.headers.get('connection') ?? []).join(',').toLowerCase();
      const close = http10 ? !conn.includes('keep-alive') : conn.split(',').some((t) => t.trim() === 'close');
      const peer = this.peerHeader;
      let rewritten: Buffer[];
      if (!peer) rewritten = [buf.subarray(0, h.bytes)];
      else if (!h.headers.has(peer.name)) {
        // The usual case: the head as it came, then the guard's header before the final empty line.
        rewritten = [buf.subarray(0, h.bytes - 2), Buffer.from(`${peer.name}: ${peer.value}\r\n\r\n`, 'latin1')];
      } else {
        const lines = h.text.split('\r\n').filter((l, i) => i === 0 || !l.toLowerCase().startsWith(`${peer.name}:`));
        rewritten = [Buffer.from(`${lines.join('\r\n')}\r\n${peer.name}: ${peer.value}\r\n\r\n`, 'latin1')];
      }
      this.body = new BodyWalker(body);
      const rest = this.bodyStep(buf.subarray(h.bytes));
      return {
        forward: [...rewritten, ...rest.forward],
        consumed: h.bytes + rest.consumed,
        complete: rest.complete,
        close,
        method: m[1] as string,
      };
    }
    return this.bodyStep(buf);
  }

  private bodyStep(buf: Buffer): RequestStep {
    const { n, complete } = (this.body as BodyWalker).take(buf);
    if (complete) this.body = null;
    return { forward: n > 0 ? [buf.subarray(0, n)] : [], consumed: n, complete };
  }
}

export interface ResponseStep {
  readonly consumed: number;
  /** A final (non-1xx) response ended within the consumed bytes. */
  readonly complete: boolean;
  /** The response asks to close the connection. */
  readonly close: boolean;
}

/** Frames the responses of one upstream connection (what it reads is forwarded as it is). */
export class ResponseFramer {
  /** The body of the current response; null while its head is awaited. */
  private body: BodyWalker | null = null;
  private untilClose = false;
  private close = false;

  /** `requestMethod`: the method of the request this response answers. */
  step(buf: Buffer, requestMethod: string): ResponseStep | null {
    if (this.body === null) {
      const h = parseHead(buf, 64 * 1024, false);
      if (!h) return null;
      const firstEnd = h.text.indexOf('\r\n');
      const m = STATUS_LINE.exec(firstEnd < 0 ? h.text : h.text.slice(0, firstEnd));
      if (!m) throw new FramingError(400, 'malformed status line');
      const status = Number(m[1]);
      if (status >= 100 && status < 200) return { consumed: h.bytes, complete: false, close: false };
      this.close = (h.headers.get('connection') ?? []).join(',').toLowerCase().includes('close');
      const noBody = requestMethod === 'HEAD' || status === 204 || status === 304;
      const body = noBody ? null : bodyOf(h.headers);
      this.body = new BodyWalker(body);
      // No length and no chunking on a response that has a body: it ends when the connection does.
      if (!body) this.untilClose = !noBody;
      const rest = this.bodyStep(buf.subarray(h.bytes));
      return { consumed: h.bytes + rest.consumed, complete: rest.complete, close: rest.close || this.untilClose };
    }
    return this.bodyStep(buf);
  }

  private bodyStep(buf: Buffer): ResponseStep {
    if (this.untilClose) return { consumed: buf.length, complete: false, close: true };
    const { n, complete } = (this.body as BodyWalker).take(buf);
    const close = this.close;
    if (complete) {
      this.body = null;
      this.close = false;
    }
    return { consumed: n, complete, close };
  }
}

/**
 * HTTP client of the inference service (ml/) used by the scoring activities. Maps failures to Temporal semantics:
 * timeouts, connection errors, 5xx and 429 are thrown as retryable errors (the activity's retry policy applies);
 * any other 4xx means our request is wrong, so it is a non-retryable `InferenceRequestRejected` ApplicationFailure.
 * Response bodies are bounded (a longer answer is cut off while it arrives, not read whole first) and parsed as JSON.
 *
 * Transport: node:http over a kept-alive agent (at most `maxSockets` connections, idle ones closed after 4 s, before
 * the service's 5 s keep-alive timeout), the request body encoded once into one Buffer with its Content-Length, the
 * answer's chunks collected up to the bound. Measured against the global fetch (undici's WHATWG
 * streams) it replaces, with the ml bench's 64-event scoring call (bench/ml/score64-diag.ts): less client CPU per call
 * and a lower p99 (figures in ml/README.md, "Last measured").
 */
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ApplicationFailure } from '@temporalio/activity';

export interface InferenceClientOptions {
  readonly baseUrl: string;
  /** Per-request timeout; shorter than the activity's start-to-close so a retry still fits. */
  readonly timeoutMs: number;
  /** Most open connections to the service (default 16). */
  readonly maxSockets?: number;
}

/** Largest response body read from the service. */
export const MAX_RESPONSE_BYTES = 256 * 1024;

export class InferenceUnavailableError extends Error {
  override readonly name = 'InferenceUnavailableError';
}

export interface InferenceClient {
  post<T>(path: string, body: unknown): Promise<T>;
}

interface RawAnswer {
  readonly status: number;
  readonly body: Buffer;
}

export function createInferenceClient(opts: InferenceClientOptions): InferenceClient & {
  /** Closes the kept-alive connections (idle ones do not keep the process alive). */
  close(): void;
} {
  const base = new URL(opts.baseUrl.replace(/\/+$/, ''));
  const tls = base.protocol === 'https:';
  const agentOpts = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: opts.maxSockets ?? 16, timeout: 4000 };
  const agent = tls ? new HttpsAgent(agentOpts) : new Agent(agentOpts);
  const send = tls ? httpsRequest : request;
  const prefix = base.pathname === '/' ? '' : base.pathname;

  const exchange = (path: string, payload: Buffer): Promise<RawAnswer> =>
    new Promise((resolve, reject) => {
      const req = send(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port,
          path: `${prefix}${path}`,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': payload.length,
            accept: 'application/json',
          },
        },
        (res) => {
          const tooLong = () => {
            res.destroy();
            reject(new InferenceUnavailableError(`inference ${path} answered more than ${MAX_RESPONSE_BYTES} bytes`));
          };
          if (Number(res.headers['content-length']) > MAX_RESPONSE_BYTES) return tooLong();
          const chunks: Buffer[] = [];
          let n = 0;
          res.on('data', (chunk: Buffer) => {
            n += chunk.length;
            if (n > MAX_RESPONSE_BYTES) return tooLong();
            chunks.push(chunk);
          });
          res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks, n) }));
          res.once('error', (err) =>
            reject(new InferenceUnavailableError(`inference ${path} answer broke off: ${err.message}`)),
          );
        },
      );
      // The whole exchange's deadline (as AbortSignal.timeout gave the fetch this replaced), not a socket idle timer.
      const timer = setTimeout(
        () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms (timeout)`)),
        opts.timeoutMs,
      );
      req.once('close', () => clearTimeout(timer));
      req.once('error', (err) =>
        reject(new InferenceUnavailableError(`inference ${path} unreachable: ${err.message}`)),
      );
      req.end(payload);
    });

  return {
    async post<T>(path: string, body: unknown): Promise<T> {
      const { status, body: bytes } = await exchange(path, Buffer.from(JSON.stringify(body)));
      if (status >= 500 || status === 429) {
        throw new InferenceUnavailableError(`inference ${path} answered ${status}`);
      }
      if (status < 200 || status >= 300) {
        throw ApplicationFailure.nonRetryable(
          `inference ${path} rejected the request with ${status}: ${bytes.toString('utf8', 0, 500)}`,
          'InferenceRequestRejected',
        );
      }
      try {
        return JSON.parse(bytes.toString('utf8')) as T;
      } catch {
        throw new InferenceUnavailableError(`inference ${path} answered non-JSON`);
      }
    },
    close() {
      agent.destroy();
    },
  };
}

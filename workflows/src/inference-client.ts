/**
 * HTTP client of the inference service (ml/) used by the scoring activities. Maps failures to Temporal semantics:
 * timeouts, connection errors, 5xx and 429 are thrown as retryable errors (the activity's retry policy applies);
 * any other 4xx means our request is wrong, so it is a non-retryable `InferenceRequestRejected` ApplicationFailure.
 * Response bodies are bounded and checked for the fields the workflow relies on.
 */
import { ApplicationFailure } from '@temporalio/activity';

export interface InferenceClientOptions {
  readonly baseUrl: string;
  /** Per-request timeout; shorter than the activity's start-to-close so a retry still fits. */
  readonly timeoutMs: number;
}

/** Largest response body read from the service. */
const MAX_RESPONSE_BYTES = 256 * 1024;

export class InferenceUnavailableError extends Error {
  override readonly name = 'InferenceUnavailableError';
}

export interface InferenceClient {
  post<T>(path: string, body: unknown): Promise<T>;
}

export function createInferenceClient(opts: InferenceClientOptions): InferenceClient {
  const base = opts.baseUrl.replace(/\/+$/, '');
  return {
    async post<T>(path: string, body: unknown): Promise<T> {
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (err) {
        throw new InferenceUnavailableError(`inference ${path} unreachable: ${(err as Error).message}`);
      }
      const text = await res.text();
      if (text.length > MAX_RESPONSE_BYTES) {
        throw new InferenceUnavailableError(`inference ${path} answered more than ${MAX_RESPONSE_BYTES} bytes`);
      }
      if (res.status >= 500 || res.status === 429) {
        throw new InferenceUnavailableError(`inference ${path} answered ${res.status}`);
      }
      if (!res.ok) {
        throw ApplicationFailure.nonRetryable(
          `inference ${path} rejected the request with ${res.status}: ${text.slice(0, 500)}`,
          'InferenceRequestRejected',
        );
      }
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new InferenceUnavailableError(`inference ${path} answered non-JSON`);
      }
    },
  };
}

/**
 * Fraud scoring in the worker's process (`WORKER_FRAUD_SCORING=in-process`): an InferenceClient that answers the
 * fraud paths with @pep/ml/scoring (the service's own scoring code: the same online features, models, hot reload and
 * answers) and sends every other path to the service over HTTP. Failures keep the HTTP client's Temporal semantics:
 * a bad item (the service's 422) is a non-retryable `InferenceRequestRejected`; anything else is retryable.
 */
import { INFERENCE_PATHS } from '@pep/contracts';
import { ApplicationFailure } from '@temporalio/activity';
import { type InferenceClient, InferenceUnavailableError } from './inference-client.ts';

/** What this module needs of @pep/ml/scoring's LocalScoring. */
export interface InProcessFraud {
  scoreFraud(items: readonly unknown[]): Promise<unknown[]>;
}

export function withInProcessFraud(
  http: InferenceClient,
  local: InProcessFraud,
  isInvalidRequest: (err: unknown) => boolean,
): InferenceClient {
  const score = async (path: string, items: readonly unknown[]) => {
    try {
      return await local.scoreFraud(items);
    } catch (err) {
      if (isInvalidRequest(err))
        throw ApplicationFailure.nonRetryable(
          `inference ${path} (in-process) rejected the request: ${(err as Error).message}`,
          'InferenceRequestRejected',
        );
      throw new InferenceUnavailableError(`inference ${path} (in-process) failed: ${(err as Error).message}`);
    }
  };
  return {
    async post<T>(path: string, body: unknown): Promise<T> {
      if (path === INFERENCE_PATHS.fraudScoreBatch) {
        const items = (body as { items?: unknown } | null)?.items;
        if (!Array.isArray(items))
          throw ApplicationFailure.nonRetryable('items must be an array', 'InferenceRequestRejected');
        return { results: await score(path, items) } as T;
      }
      if (path === INFERENCE_PATHS.fraudScore) return (await score(path, [body]))[0] as T;
      return http.post<T>(path, body);
    },
  };
}

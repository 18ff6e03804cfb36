/**
 * The rules a reviewer's decision must meet, shared by the legacy DlqReviewWorkflow (which checks a signal before
 * accepting it) and the grouped review's activities (which check a decision against the review row). Pure and
 * deterministic: workflow code imports it.
 */
import { MAX_CORRECTED_PAYLOAD_CHARS, type ReviewDecision } from './types.ts';

/** The raw payload of a validation DLQ record as text (`original_payload`), or null when the record has none. */
export function originalPayloadOf(record: Record<string, unknown>): string | null {
  const p = record.original_payload;
  if (typeof p === 'string') return p;
  if (p && typeof p === 'object') return JSON.stringify(p);
  return null;
}

/** Why a decision cannot be applied to this record, or null when it can. */
export function decisionError(d: unknown, record: Record<string, unknown>): string | null {
  if (!d || typeof d !== 'object') return 'decision must be an object';
  const x = d as Partial<ReviewDecision>;
  if (x.decision !== 'approve' && x.decision !== 'reprocess' && x.decision !== 'discard') {
    return `decision must be approve, reprocess or discard, got ${JSON.stringify(x.decision)}`;
  }
  if (typeof x.reviewer !== 'string' || x.reviewer.trim() === '') return 'reviewer is required';
  if (typeof record.source_topic !== 'string' && x.decision !== 'discard') {
    return 'the record has no source_topic to re-inject into';
  }
  if (x.decision === 'approve' && originalPayloadOf(record) === null) return 'the record has no original_payload';
  if (x.decision === 'reprocess') {
    if (typeof x.correctedPayload !== 'string' || x.correctedPayload.trim() === '') {
      return 'reprocess needs a correctedPayload';
    }
    if (x.correctedPayload.length > MAX_CORRECTED_PAYLOAD_CHARS) {
      return `correctedPayload is over ${MAX_CORRECTED_PAYLOAD_CHARS} characters`;
    }
  }
  return null;
}

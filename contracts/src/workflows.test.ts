import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { paymentBatchWorkflowId, paymentWorkflowId, REVIEW_DECISIONS, reviewWorkflowId } from './workflows.ts';

describe('workflow ids', () => {
  it('derives the payment workflow id from event_id only', () => {
    assert.equal(paymentWorkflowId('stripe:evt_1'), 'payment-stripe:evt_1');
  });

  it('keys reviews by original coordinates and the Adyen item', () => {
    assert.equal(
      reviewWorkflowId('webhooks.adyen.notification', 2, '17'),
      'dlq-review-webhooks.adyen.notification-2-17',
    );
    assert.equal(
      reviewWorkflowId('webhooks.adyen.notification', 2, 17, 0),
      'dlq-review-webhooks.adyen.notification-2-17-item0',
    );
    assert.equal(reviewWorkflowId('t', 0, 1, null), 'dlq-review-t-0-1');
  });

  it('names batch workflows by their offsets, and lists the three review decisions', () => {
    assert.equal(
      paymentBatchWorkflowId('payments.normalized', 1, '10', '34'),
      'payment-batch-payments.normalized-1-10-34',
    );
    assert.equal(
      paymentBatchWorkflowId('payments.normalized', 1, '10', '34', '0123abcd4567'),
      'payment-batch-payments.normalized-1-10-34-0123abcd4567',
    );
    assert.deepEqual([...REVIEW_DECISIONS], ['approve', 'reprocess', 'discard']);
  });
});

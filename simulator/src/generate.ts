/**
 * Turns the traffic model into a reproducible stream of deliveries: picks which events carry an injected fault
 * (at most one fault per delivery, so its expected status is unambiguous), schedules provider redeliveries
 * (duplicates) a little later in the stream, and collects the fraud ground truth on the side.
 */

import type { Provider } from '@pep/contracts';
import { type BusinessEvent, TrafficModel } from './model.ts';
import {
  type Delivery,
  INVALID_KINDS,
  type InvalidKind,
  redeliver,
  renderDelivery,
  type Secrets,
  SIGNATURE_FAULTS,
  type SignatureFault,
} from './render.ts';

export interface GeneratorOptions {
  readonly seed: number;
  readonly providers: readonly Provider[];
  readonly invalidRate: number;
  readonly duplicateRate: number;
  readonly signatureFaultRate: number;
  readonly fraudRate: number;
  readonly customers: number;
  readonly merchantsPerProvider: number;
  readonly secrets: Secrets;
  readonly nowSeconds?: () => number;
  /** Clock of the event timestamps (default real time); with a fixed clock a seed reproduces bodies byte for byte. */
  readonly now?: () => Date;
}

export interface TruthRecord {
  readonly provider: Provider;
  readonly event_id: string;
  readonly object_id: string;
  readonly kind: BusinessEvent['kind'];
  readonly pattern: string;
  readonly instance: string;
  readonly customer: string;
  readonly merchant: string;
  readonly amount_minor: number;
  readonly currency: string;
  readonly outcome: string;
  readonly delivery_label: string;
}

const MAX_PENDING_DUPLICATES = 1000;

export class DeliveryGenerator {
  readonly model: TrafficModel;
  private readonly pendingDuplicates: { dueAt: number; delivery: Delivery }[] = [];
  private produced = 0;
  private readonly nowSeconds: () => number;

  constructor(private readonly opts: GeneratorOptions) {
    this.model = new TrafficModel({
      seed: opts.seed,
      providers: opts.providers,
      customers: opts.customers,
      merchantsPerProvider: opts.merchantsPerProvider,
      failureRate: 0.08,
      refundRate: 0.07,
      disputeRate: 0.015,
      fraudRate: opts.fraudRate,
      ...(opts.now ? { now: opts.now } : {}),
    });
    this.nowSeconds = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  }

  /** The next delivery and, for fraud-labelled events, its ground truth. */
  next(): { delivery: Delivery; truth: TruthRecord | null } {
    const rng = this.model.rng;
    const due = this.pendingDuplicates[0];
    if (due && due.dueAt <= this.produced) {
      this.pendingDuplicates.shift();
      this.produced++;
      return { delivery: redeliver(due.delivery, this.opts.secrets, this.nowSeconds()), truth: null };
    }
    const event = this.model.next();
    let invalid: InvalidKind | null = null;
    let signatureFault: SignatureFault | null = null;
    if (rng.chance(this.opts.signatureFaultRate)) signatureFault = rng.pick(SIGNATURE_FAULTS);
    else if (rng.chance(this.opts.invalidRate)) invalid = rng.pick(INVALID_KINDS);
    const delivery = renderDelivery({
      event,
      seed: this.opts.seed,
      secrets: this.opts.secrets,
      rng,
      invalid,
      signatureFault,
      nowSeconds: this.nowSeconds(),
    });
    if (rng.chance(this.opts.duplicateRate) && this.pendingDuplicates.length < MAX_PENDING_DUPLICATES) {
      const dueAt = this.produced + rng.int(1, 50);
      const at = this.pendingDuplicates.findIndex((d) => d.dueAt > dueAt);
      this.pendingDuplicates.splice(at < 0 ? this.pendingDuplicates.length : at, 0, { dueAt, delivery });
    }
    this.produced++;
    const payment = event.kind === 'payment' ? event : null;
    const truth: TruthRecord | null = payment?.fraud
      ? {
          provider: event.provider,
          event_id: delivery.eventId,
          object_id: delivery.objectId,
          kind: event.kind,
          pattern: payment.fraud.pattern,
          instance: payment.fraud.instance,
          customer: payment.customer.base,
          merchant: payment.merchant.base,
          amount_minor: payment.amountMinor,
          currency: payment.currency,
          outcome: payment.outcome,
          delivery_label: delivery.label,
        }
      : null;
    return { delivery, truth };
  }
}

/**
 * Provider-neutral traffic model: a fixed population of customers and merchants picked with Zipf-skewed
 * frequencies, payments that succeed or fail with real failure codes, refunds and disputes of earlier payments,
 * and fraud patterns (card-testing bursts, velocity spikes, unusual amounts) whose ground truth is returned
 * separately from the events. Rendering to provider payloads lives in providers/.
 */

import { currencyExponent, type Provider } from '@pep/contracts';
import { Rng, Zipf } from './random.ts';

const CURRENCY_WEIGHTS: readonly (readonly [string, number])[] = [
  ['USD', 50],
  ['EUR', 20],
  ['GBP', 10],
  ['CAD', 5],
  ['AUD', 4],
  ['JPY', 5],
  ['CHF', 2],
  ['SEK', 3],
  ['KWD', 1],
];
const BRANDS: readonly (readonly [string, number])[] = [
  ['visa', 55],
  ['mastercard', 30],
  ['amex', 10],
  ['discover', 5],
];

export type FailureCode =
  | 'card_declined'
  | 'insufficient_funds'
  | 'expired_card'
  | 'incorrect_cvc'
  | 'processing_error'
  | 'lost_card'
  | 'stolen_card'
  | 'fraudulent';
const FAILURES: readonly (readonly [FailureCode, number])[] = [
  ['card_declined', 35],
  ['insufficient_funds', 30],
  ['expired_card', 10],
  ['incorrect_cvc', 10],
  ['processing_error', 8],
  ['lost_card', 3],
  ['stolen_card', 2],
  ['fraudulent', 2],
];

export interface Customer {
  readonly idx: number;
  /** Alphanumeric base id; providers derive their own id formats from it. */
  readonly base: string;
  readonly currency: string;
  readonly brand: string;
  readonly last4: string;
  readonly expMonth: number;
  readonly expYear: number;
  /** Median payment amount in the customer's currency minor units. */
  readonly typicalAmountMinor: number;
}

export interface Merchant {
  readonly idx: number;
  readonly base: string;
  readonly provider: Provider;
  readonly name: string;
}

export type FraudPattern = 'card_testing' | 'velocity_spike' | 'unusual_amount';

export interface Payment {
  readonly kind: 'payment';
  /** Unique within a run; providers derive their ids from it. */
  readonly seq: number;
  readonly provider: Provider;
  readonly customer: Customer;
  readonly merchant: Merchant;
  readonly amountMinor: number;
  readonly currency: string;
  readonly outcome: 'succeeded' | 'failed';
  readonly failureCode: FailureCode | null;
  readonly method: 'card' | 'wallet';
  readonly at: Date;
  readonly fraud: { pattern: FraudPattern; instance: string } | null;
}

export interface Refund {
  readonly kind: 'refund';
  readonly seq: number;
  readonly provider: Provider;
  readonly payment: Payment;
  readonly amountMinor: number;
  readonly at: Date;
}

export interface Dispute {
  readonly kind: 'dispute';
  readonly seq: number;
  readonly provider: Provider;
  readonly payment: Payment;
  readonly reason: 'fraudulent' | 'product_not_received' | 'duplicate' | 'unrecognized';
  readonly at: Date;
}

export type BusinessEvent = Payment | Refund | Dispute;

export interface ModelOptions {
  readonly seed: number;
  readonly providers: readonly Provider[];
  readonly customers: number;
  readonly merchantsPerProvider: number;
  readonly failureRate: number;
  readonly refundRate: number;
  readonly disputeRate: number;
  /** Multiplier on the start probabilities of the fraud patterns (0 disables fraud). */
  readonly fraudRate: number;
  /** Clock of the simulated events (defaults to real time). */
  readonly now?: () => Date;
  /**
   * Later outcomes (default on): fraudulent payments that succeeded, and a few legitimate ones, receive a fraud
   * dispute days to weeks later in simulated time; some customers abandon after a failed payment and never pay
   * again. These are the labels ml/ learns from (never from our own scores).
   */
  readonly outcomes?: boolean;
}

const MAX_RECENT_PAYMENTS = 5000;
/** Most disputes waiting for their simulated due time. */
const MAX_SCHEDULED = 100_000;
const DAY_MS = 86_400_000;
/** Share of successful fraudulent payments that get a fraud dispute, and of legitimate ones (friendly fraud). */
export const FRAUD_DISPUTE_RATE = 0.8;
export const LEGIT_DISPUTE_RATE = 0.002;
/** Probability that a customer never pays again after a failed payment, by failure code (before the streak bonus). */
const ABANDON: Readonly<Record<string, number>> = {
  expired_card: 0.45,
  insufficient_funds: 0.25,
  card_declined: 0.2,
  lost_card: 0.5,
  stolen_card: 0.5,
};

export class TrafficModel {
  readonly rng: Rng;
  readonly customers: Customer[];
  readonly merchants: Merchant[];
  private readonly customerZipf: Zipf;
  private readonly merchantZipf: Zipf;
  private readonly recent: Payment[] = [];
  private queue: BusinessEvent[] = [];
  private seq = 0;
  private fraudInstances = 0;
  private readonly now: () => Date;
  /** Disputes due later in simulated time, soonest first. */
  private readonly scheduled: Dispute[] = [];
  private lastAtMs = Number.NEGATIVE_INFINITY;
  /** Customers who abandoned (never picked again) and current failure streaks. */
  readonly abandoned = new Set<number>();
  private readonly failStreak = new Map<number, number>();

  constructor(readonly opts: ModelOptions) {
    this.rng = new Rng(opts.seed);
    this.now = opts.now ?? (() => new Date());
    const r = this.rng;
    this.customers = Array.from({ length: opts.customers }, (_, idx) => {
      const currency = r.weighted(CURRENCY_WEIGHTS);
      const exp = currencyExponent(currency) as number;
      const majorMedian =
        Math.exp(Math.log(40) + 0.9 * r.normal()) * (currency === 'JPY' ? 110 : currency === 'KWD' ? 0.3 : 1);
      return {
        idx,
        base: r.alnum(14),
        currency,
        brand: r.weighted(BRANDS),
        last4: r.digits(4),
        expMonth: r.int(1, 12),
        expYear: r.int(2026, 2031),
        typicalAmountMinor: Math.max(50 * 10 ** Math.max(0, exp - 2), Math.round(majorMedian * 10 ** exp)),
      };
    });
    this.merchants = opts.providers.flatMap((provider) =>
      Array.from({ length: opts.merchantsPerProvider }, (_, i) => ({
        idx: i,
        base: r.alnum(12).toUpperCase(),
        provider,
        name: `${r.pick(['Blue', 'Red', 'North', 'Urban', 'Happy', 'Prime', 'Green'])} ${r.pick(['Books', 'Coffee', 'Games', 'Outfitters', 'Grocer', 'Travel', 'Software'])} ${i}`,
      })),
    );
    this.customerZipf = new Zipf(this.customers.length, 1.05);
    this.merchantZipf = new Zipf(opts.merchantsPerProvider, 1.2);
  }

  private pickCustomer(): Customer {
    // Abandoned customers do not come back; after a few draws of abandoned ones, take whoever came up (bounded).
    let c = this.customers[this.customerZipf.sample(this.rng)] as Customer;
    for (let i = 0; i < 8 && this.abandoned.has(c.idx); i++) {
      c = this.customers[this.customerZipf.sample(this.rng)] as Customer;
    }
    return c;
  }

  /** Queues a dispute of `payment` `delayDays` (simulated) after it. */
  private schedule(payment: Payment, reason: Dispute['reason'], delayDays: number): void {
    if (this.scheduled.length >= MAX_SCHEDULED) return;
    const due = payment.at.getTime() + delayDays * DAY_MS;
    const d: Dispute = { kind: 'dispute', seq: -1, provider: payment.provider, payment, reason, at: new Date(due) };
    let i = this.scheduled.length;
    while (i > 0 && (this.scheduled[i - 1] as Dispute).at.getTime() > due) i--;
    this.scheduled.splice(i, 0, d);
  }

  /** Later outcomes of a payment: a delayed fraud dispute, or the customer abandoning after a failure. */
  private outcomesOf(p: Payment): void {
    if (this.opts.outcomes === false) return;
    if (p.outcome === 'succeeded') {
      this.failStreak.delete(p.customer.idx);
      if (p.fraud && this.rng.chance(FRAUD_DISPUTE_RATE)) this.schedule(p, 'fraudulent', this.rng.int(3, 30));
      else if (!p.fraud && this.rng.chance(LEGIT_DISPUTE_RATE)) this.schedule(p, 'fraudulent', this.rng.int(5, 45));
      return;
    }
    if (p.customer.idx < 0) return;
    const streak = (this.failStreak.get(p.customer.idx) ?? 0) + 1;
    this.failStreak.set(p.customer.idx, streak);
    const base = ABANDON[p.failureCode ?? ''] ?? 0.05;
    if (this.rng.chance(Math.min(0.95, base + 0.25 * (streak - 1)))) this.abandoned.add(p.customer.idx);
  }

  private pickMerchant(provider?: Provider): Merchant {
    const p = provider ?? this.rng.pick(this.opts.providers);
    const offset = this.opts.providers.indexOf(p) * this.opts.merchantsPerProvider;
    return this.merchants[offset + this.merchantZipf.sample(this.rng)] as Merchant;
  }

  private payment(
    customer: Customer,
    merchant: Merchant,
    amountMinor: number,
    fraud: Payment['fraud'],
    failureRate = this.opts.failureRate,
    failures: readonly (readonly [FailureCode, number])[] = FAILURES,
    at: Date = this.now(),
  ): Payment {
    const failed = this.rng.chance(failureRate);
    const p: Payment = {
      kind: 'payment',
      seq: this.seq++,
      provider: merchant.provider,
      customer,
      merchant,
      amountMinor: Math.max(1, Math.round(amountMinor)),
      currency: customer.currency,
      outcome: failed ? 'failed' : 'succeeded',
      failureCode: failed ? this.rng.weighted(failures) : null,
      method: this.rng.chance(0.12) ? 'wallet' : 'card',
      at,
      fraud,
    };
    this.lastAtMs = Math.max(this.lastAtMs, p.at.getTime());
    this.outcomesOf(p);
    if (!failed) {
      this.recent.push(p);
      if (this.recent.length > MAX_RECENT_PAYMENTS) this.recent.splice(0, this.recent.length - MAX_RECENT_PAYMENTS);
    }
    return p;
  }

  private normalAmount(c: Customer): number {
    return c.typicalAmountMinor * Math.exp(0.45 * this.rng.normal());
  }

  /** Starts a fraud pattern: queues its events, all labelled with the pattern and one instance id. */
  private startFraud(pattern: FraudPattern): void {
    const instance = `${pattern}-${this.fraudInstances++}`;
    const fraud = { pattern, instance };
    // A burst happens within minutes, whatever the pace of the rest of the traffic: its payments are timed from
    // one clock reading, a few seconds apart.
    const t0 = this.now().getTime();
    let dt = 0;
    const burstAt = () => {
      dt += this.rng.int(2_000, 40_000);
      return new Date(t0 + dt);
    };
    if (pattern === 'card_testing') {
      // A stolen card (a new identity, never seen before) probing one merchant with tiny amounts, mostly declined.
      const exp = 2;
      const victim: Customer = {
        idx: -1,
        base: this.rng.alnum(14),
        currency: 'USD',
        brand: this.rng.weighted(BRANDS),
        last4: this.rng.digits(4),
        expMonth: this.rng.int(1, 12),
        expYear: this.rng.int(2026, 2031),
        typicalAmountMinor: 100 * 10 ** (exp - 2),
      };
      const merchant = this.pickMerchant();
      const n = this.rng.int(8, 25);
      for (let i = 0; i < n; i++) {
        this.queue.push(
          this.payment(
            victim,
            merchant,
            this.rng.int(50, 199),
            fraud,
            0.7,
            [
              ['card_declined', 50],
              ['incorrect_cvc', 30],
              ['expired_card', 10],
              ['fraudulent', 10],
            ],
            burstAt(),
          ),
        );
      }
    } else if (pattern === 'velocity_spike') {
      const c = this.pickCustomer();
      const n = this.rng.int(6, 12);
      for (let i = 0; i < n; i++) {
        this.queue.push(
          this.payment(c, this.pickMerchant(), this.normalAmount(c), fraud, this.opts.failureRate, FAILURES, burstAt()),
        );
      }
    } else {
      const c = this.pickCustomer();
      this.queue.push(this.payment(c, this.pickMerchant(), c.typicalAmountMinor * this.rng.int(20, 60), fraud, 0.2));
    }
  }

  /** The next business event. */
  next(): BusinessEvent {
    const queued = this.queue.shift();
    if (queued) return queued;
    const due = this.scheduled[0];
    if (due && due.at.getTime() <= this.lastAtMs) {
      this.scheduled.shift();
      return { ...due, seq: this.seq++, at: this.now() };
    }
    const f = this.opts.fraudRate;
    if (f > 0) {
      if (this.rng.chance(0.002 * f)) return this.startAndNext('card_testing');
      if (this.rng.chance(0.003 * f)) return this.startAndNext('velocity_spike');
      if (this.rng.chance(0.006 * f)) return this.startAndNext('unusual_amount');
    }
    const roll = this.rng.next();
    if (roll < this.opts.refundRate && this.recent.length > 0) {
      const payment = this.rng.pick(this.recent);
      const full = this.rng.chance(0.7);
      return {
        kind: 'refund',
        seq: this.seq++,
        provider: payment.provider,
        payment,
        amountMinor: full ? payment.amountMinor : Math.max(1, Math.floor(payment.amountMinor * this.rng.next())),
        at: this.now(),
      };
    }
    if (roll < this.opts.refundRate + this.opts.disputeRate && this.recent.length > 0) {
      // Fraud-labelled payments are disputed more often than others (chargebacks follow fraud).
      const fraudulent = this.recent.filter((p) => p.fraud !== null);
      const payment =
        fraudulent.length > 0 && this.rng.chance(0.5) ? this.rng.pick(fraudulent) : this.rng.pick(this.recent);
      return {
        kind: 'dispute',
        seq: this.seq++,
        provider: payment.provider,
        payment,
        reason: payment.fraud
          ? 'fraudulent'
          : this.rng.pick(['product_not_received', 'duplicate', 'unrecognized', 'fraudulent'] as const),
        at: this.now(),
      };
    }
    const c = this.pickCustomer();
    return this.payment(c, this.pickMerchant(), this.normalAmount(c), null);
  }

  private startAndNext(pattern: FraudPattern): BusinessEvent {
    this.startFraud(pattern);
    return this.next();
  }
}

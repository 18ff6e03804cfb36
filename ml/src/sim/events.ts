/**
 * Normalized events from the simulator's traffic model, without the network: deliveries rendered by
 * @pep/simulator and normalized by core-native exactly as the transformer does, on a simulated clock that advances
 * a fixed step per business event (so a few thousand events cover days or weeks). For tests, benchmarks and the
 * small training set CI trains on; `npm start` trains on what really flowed through the pipeline.
 */
import { PROVIDERS } from '@pep/contracts';
import { loadCore, packBatch } from '@pep/core-native';
import { DeliveryGenerator } from '@pep/simulator/generate';
import { signingSecrets } from '@pep/simulator/render';

export interface SimulatedEventsOptions {
  readonly seed: number;
  readonly count: number;
  /** Simulated time of the first event (ms). */
  readonly startMs: number;
  /** Simulated time between business events (ms). */
  readonly stepMs: number;
  readonly customers?: number;
  readonly merchantsPerProvider?: number;
  readonly duplicateRate?: number;
  readonly fraudRate?: number;
  /**
   * Filled with the event ids of the payments the simulator made fraudulent (its ground truth side file, for
   * evaluation only: never for training).
   */
  readonly fraudTruth?: Set<string>;
}

export async function simulatedEvents(opts: SimulatedEventsOptions): Promise<string[]> {
  let t = opts.startMs;
  const gen = new DeliveryGenerator({
    seed: opts.seed,
    providers: PROVIDERS,
    invalidRate: 0,
    duplicateRate: opts.duplicateRate ?? 0,
    signatureFaultRate: 0,
    fraudRate: opts.fraudRate ?? 1,
    customers: opts.customers ?? 300,
    merchantsPerProvider: opts.merchantsPerProvider ?? 10,
    secrets: signingSecrets(),
    nowSeconds: () => Math.floor(t / 1000),
    now: () => {
      t += opts.stepMs;
      return new Date(t);
    },
  });
  const core = await loadCore();
  const out: string[] = [];
  const dec = new TextDecoder();
  while (out.length < opts.count) {
    const msgs = [];
    for (let i = 0; i < 1000; i++) {
      const { delivery: d, truth } = gen.next();
      // The normalized event id is `<provider>:<provider event id>` (core-native).
      if (truth) opts.fraudTruth?.add(`${truth.provider}:${truth.event_id}`);
      msgs.push({ provider: d.provider, bytes: Buffer.from(d.body), receivedAtMs: t, partition: 0, offset: i });
    }
    const r = core.normalizeBatch(packBatch(msgs), { normalizedAtMs: t });
    for (let i = 0; i < r.events.offsets.length && out.length < opts.count; i++) {
      const o = r.events.offsets[i] as number;
      out.push(dec.decode(r.events.data.subarray(o, o + (r.events.lengths[i] as number))));
    }
  }
  return out;
}

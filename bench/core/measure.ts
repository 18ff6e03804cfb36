/**
 * Measurement kernel of the core benchmark, shared by the Node run and the Bun child process:
 * events/s of the native batch path, the TypeScript twin and the baseline at several batch
 * sizes over the same bytes, plus the raw-parse ceiling and the N-API crossing probe.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadCore, type OneMessage, packBatch, type RawBatch } from '@pep/core-native';
import { loadNativeBinding, unpack } from '@pep/core-native/native';
import { baselineNormalize } from './baseline.ts';

export const BATCH_SIZES = [1, 64, 256, 1024] as const;
const NORMALIZED_AT_MS = 1_767_225_600_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** Distinct realistic Stripe payment_intent events (the fixture with varied ids and amounts). */
export function workload(count: number): OneMessage[] {
  const file = fileURLToPath(
    import.meta.resolve('@pep/core-native/fixtures/payloads/stripe_payment_intent_succeeded.json'),
  );
  const base = JSON.parse(readFileSync(file, 'utf8'));
  return Array.from({ length: count }, (_, i) => {
    const e = structuredClone(base);
    e.id = `evt_bench${i.toString(36)}x`;
    e.data.object.id = `pi_bench${i.toString(36)}`;
    e.data.object.amount = 100 + ((i * 7919) % 100_000);
    e.data.object.customer = `cus_c${i % 500}`;
    return {
      provider: 'stripe',
      bytes: JSON.stringify(e),
      topic: 'webhooks.stripe.payment_intent',
      partition: i % 3,
      offset: i,
      receivedAtMs: NORMALIZED_AT_MS - 1000,
    };
  });
}

export interface Measured {
  runtime: string;
  eventsPerS: Record<string, number>;
  /** Median over runs of (native / baseline) and (twin / baseline) measured back to back, per batch size. */
  pairedRatios: Record<string, number>;
  rawParseEventsPerS: number;
  crossingFraction256: number;
  outputCopyFraction256: number;
  avgMessageBytes: number;
}

function chunks(msgs: OneMessage[], size: number): RawBatch[] {
  const out: RawBatch[] = [];
  for (let i = 0; i < msgs.length; i += size) out.push(packBatch(msgs.slice(i, i + size)));
  return out;
}

/**
 * CPU seconds (user + system) the process spent in `fn`: "events/s per core" is events per CPU
 * second, and it is not distorted by other processes competing for the cores.
 */
function time(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e6;
}

export async function measure(opts: { quick: boolean }): Promise<Measured> {
  const native = await loadCore({ impl: 'native' });
  const js = await loadCore({ impl: 'js' });
  // The generated binding also exports bench-only helpers.
  const binding = (await loadNativeBinding()) as unknown as {
    benchParseOnly(d: Uint8Array, o: Uint32Array, l: Uint32Array): number;
    benchCrossingProbe(...a: unknown[]): unknown;
  };
  const total = opts.quick ? 2048 : 16384;
  const runs = opts.quick ? 3 : 7;
  const msgs = workload(total);
  const avgMessageBytes = msgs.reduce((n, m) => n + Buffer.byteLength(m.bytes as string), 0) / total;
  const eventsPerS: Record<string, number> = {};
  const pairedRatios: Record<string, number> = {};
  for (const size of BATCH_SIZES) {
    const batches = chunks(msgs, size);
    const samples: Record<string, number[]> = { native: [], js: [], baseline: [] };
    const impls: [string, () => void][] = [
      [
        'native',
        () => {
          for (const b of batches) native.normalizeBatch(b, { normalizedAtMs: NORMALIZED_AT_MS });
        },
      ],
      [
        'js',
        () => {
          for (const b of batches) js.normalizeBatch(b, { normalizedAtMs: NORMALIZED_AT_MS });
        },
      ],
      [
        'baseline',
        () => {
          for (const b of batches) {
            for (let i = 0; i < b.offsets.length; i++) {
              const o = b.offsets[i] as number;
              baselineNormalize(
                b.data.subarray(o, o + (b.lengths[i] as number)),
                b.receivedAtMs[i] as number,
                NORMALIZED_AT_MS,
              );
            }
          }
        },
      ],
    ];
    for (const [, fn] of impls) fn(); // warm-up
    for (let r = 0; r < runs; r++) {
      // Alternate the order so that no implementation always runs first.
      const order = r % 2 ? [...impls].reverse() : impls;
      for (const [name, fn] of order) (samples[name] as number[]).push(total / time(fn));
    }
    for (const name of Object.keys(samples)) eventsPerS[`${name}_b${size}`] = median(samples[name] as number[]);
    // Runs alternate the implementations back to back, so a slow period of the shared machine
    // hits both sides of a pair: the median of per-run ratios is steadier than a ratio of medians.
    const base = samples.baseline as number[];
    for (const name of ['native', 'js']) {
      const xs = samples[name] as number[];
      pairedRatios[`${name}_vs_baseline_b${size}`] = median(xs.map((x, k) => x / (base[k] as number)));
    }
  }
  const b256 = chunks(msgs, 256);
  const parseSamples: number[] = [];
  const probeSamples: number[] = [];
  const normSamples: number[] = [];
  const copySamples: number[] = [];
  const probe = (b: RawBatch, outputBytes = false) =>
    binding.benchCrossingProbe(
      b.data,
      b.offsets,
      b.lengths,
      b.providers,
      b.topics,
      b.topicIndex,
      b.partitions,
      b.kafkaOffsets,
      b.receivedAtMs,
      NORMALIZED_AT_MS,
      outputBytes,
    );
  // Enough calls per sample that a GC pause does not dominate one sample.
  const reps = Math.max(1, Math.ceil(64 / b256.length));
  const each = (f: (b: RawBatch) => void) => {
    for (let k = 0; k < reps; k++) for (const b of b256) f(b);
  };
  for (let r = 0; r < runs + 1; r++) {
    const p = time(() => each((b) => binding.benchParseOnly(b.data, b.offsets, b.lengths)));
    // Through the same JS unpacking as the real call.
    const c = time(() => each((b) => unpack(probe(b) as Uint8Array)));
    const o = time(() => each((b) => unpack(probe(b, true) as Uint8Array)));
    const n = time(() => each((b) => native.normalizeBatch(b, { normalizedAtMs: NORMALIZED_AT_MS })));
    if (r > 0) {
      parseSamples.push((total * reps) / p);
      probeSamples.push(c);
      copySamples.push(o - c);
      normSamples.push(n);
    }
  }
  const bun = (process.versions as Record<string, string | undefined>).bun;
  return {
    runtime: bun ? `bun ${bun}` : `node ${process.versions.node}`,
    eventsPerS,
    pairedRatios,
    rawParseEventsPerS: median(parseSamples),
    crossingFraction256: median(probeSamples) / median(normSamples),
    outputCopyFraction256: median(copySamples) / median(normSamples),
    avgMessageBytes,
  };
}

/**
 * Node's (V8's) flags for the processes that score fraud: the inference service and the workflows worker of the
 * payment lane (in-process scoring, `@pep/ml/scoring`). `npm start` (scripts/start.ts) passes them on those processes'
 * command lines, and the ml bench's paced client (the worker's stand-in) gets them too, so a setting is measured where
 * it runs. `ML_SCORING_NODE_FLAGS`: space-separated `--flag[=value]` words (empty: none). Some heap-sizing flags
 * (`--initial-old-space-size`, `--min-semi-space-size`, `--scavenger-max-new-space-capacity-mb`) are refused in
 * NODE_OPTIONS, hence the command line (node and tsx both take them before the script).
 *
 * Default `--max-semi-space-size=16` (bench/HISTORY.md `## ml`, 2026-12-07, alternating 800-call rounds at load 1-3): a
 * 64-event call leaves ~300 KB of garbage, so V8 grows the young generation to its largest here (64 MB of new space),
 * larger than the old generation's room (~20 MB over ~23 MB live). V8 then starts incremental marking after most
 * scavenges (a scavenge could promote that much), so a full mark-compact followed them: 6-12 of ~20 GC events per 800
 * calls, pauses up to 9-10 ms on the scoring thread. With 16 MB semi-spaces (32 MB of new space) the room stays larger:
 * no full collections, 17 shorter scavenges instead of 11 scavenges and 8 major events, total GC pause -37 %, the
 * longest 5.4-6.4 ms instead of 9-10, ~0.2 ms less CPU per call. `--initial-old-space-size=128` also stopped the full
 * collections but made each scavenge longer (probably the old generation's uncollected garbage keeping young objects
 * alive); 8 MB semi-spaces doubled the scavenges.
 * 32 MB or more is the default's size (no change). The wall p99 on this shared box did not move beyond its noise.
 *
 * `--expose-gc` (2026-12-07): lets the scorer collect the young generation while it is idle (serving/idle-gc.ts,
 * ML_IDLE_GC_FILL) instead of V8 doing it inside a call. It only exposes `gc()`; V8 collects as before otherwise.
 */
export const SCORING_NODE_FLAGS_DEFAULT = '--max-semi-space-size=16 --expose-gc';

/** The flags as arguments for node / tsx (before the script). Throws on a word that is not a `--flag[=value]`. */
export function scoringNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.ML_SCORING_NODE_FLAGS ?? SCORING_NODE_FLAGS_DEFAULT;
  const flags = raw.split(/\s+/).filter(Boolean);
  for (const f of flags)
    if (!/^--[a-z0-9][a-z0-9_-]*(=\S+)?$/i.test(f))
      throw new Error(`ML_SCORING_NODE_FLAGS: ${JSON.stringify(f)} is not a node flag (--name or --name=value)`);
  return flags;
}

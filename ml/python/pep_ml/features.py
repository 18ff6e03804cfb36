"""Feast operations the TypeScript side calls (ml/src/py/feast.ts): apply the definitions, read and write the online
store through Feast's own SDK (to prove the TypeScript writer and reader match Feast's layout both ways), and
point-in-time-correct historical features for training sets and the skew test.

    python -m pep_ml.features <apply|online-read|online-write|historical> --redis URL --state DIR --offline DIR [...]

Input and output files are JSON (lines); values a row does not have (no entity, past the view's ttl) are left out."""
import argparse
import json
import math
import sys

import pandas as pd

from .repo import apply, store


def _spec(defs):
    return defs.SPEC


def _features_of(spec, entity):
    return [(v["name"], f["name"]) for v in spec["views"] if v["entity"] == entity for f in v["features"]]


def _join_key(spec, entity):
    return next(e["join_key"] for e in spec["entities"] if e["name"] == entity)


def online_read(fs, defs, entity, ids):
    spec = _spec(defs)
    jk = _join_key(spec, entity)
    refs = [f"{v}:{f}" for v, f in _features_of(spec, entity)]
    res = fs.get_online_features(features=refs, entity_rows=[{jk: i} for i in ids]).to_dict()
    out = {}
    for k, i in enumerate(ids):
        out[i] = {f: res[f][k] for _, f in _features_of(spec, entity)}
    return out


def online_write(fs, defs, rows):
    spec = _spec(defs)
    for v in spec["views"]:
        jk = _join_key(spec, v["entity"])
        mine = [r for r in rows if r["entity"] == v["entity"]]
        if not mine:
            continue
        df = pd.DataFrame(
            {
                jk: [r["id"] for r in mine],
                "event_timestamp": pd.to_datetime([int(r["ts_us"]) for r in mine], unit="us", utc=True),
                "created": pd.to_datetime([int(r["ts_us"]) for r in mine], unit="us", utc=True),
                **{f["name"]: [float(r["values"][f["name"]]) for r in mine] for f in v["features"]},
            }
        )
        fs.write_to_online_store(v["name"], df)


def historical(fs, defs, rows):
    """rows: [{row, ts_us, customer_id?, merchant_id?, payment_method_id?, ts_by_entity_us?}]
    -> {row: {entity: record|None}}. Times are epoch microseconds; ts_by_entity_us gives the point in time per entity
    (the feature time the processor logged for the event: the version time of the row serving saw)."""
    spec = _spec(defs)
    out = {r["row"]: {e["name"]: None for e in spec["entities"]} for r in rows}
    for e in spec["entities"]:
        jk = e["join_key"]
        mine = [r for r in rows if r.get(jk)]
        if not mine:
            continue
        entity_df = pd.DataFrame(
            {
                "row": [r["row"] for r in mine],
                jk: [r[jk] for r in mine],
                "event_timestamp": pd.to_datetime(
                    [int((r.get("ts_by_entity_us") or {}).get(e["name"], r["ts_us"])) for r in mine], unit="us", utc=True
                ),
            }
        )
        feats = _features_of(spec, e["name"])
        df = fs.get_historical_features(entity_df=entity_df, features=[f"{v}:{f}" for v, f in feats]).to_df()
        for rec in df.to_dict("records"):
            values = {}
            for _, f in feats:
                x = rec.get(f)
                if x is not None and not (isinstance(x, float) and math.isnan(x)):
                    values[f] = float(x)
            out[rec["row"]][e["name"]] = values or None
    return out


def compact(offline_dir):
    """Merges each entity folder's Parquet parts into one file (Feast's DuckDB offline store reads one file far
    faster than hundreds): the merged file is written and renamed into place before the parts go, so a reader sees
    every row at all times (for a moment some twice, which the point-in-time join's dedup absorbs)."""
    import os
    import uuid
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    merged = {}
    for folder in sorted(Path(offline_dir).iterdir()) if Path(offline_dir).exists() else []:
        if not folder.is_dir():
            continue
        parts = sorted(p for p in folder.glob("part-*.parquet"))
        if len(parts) < 2:
            continue
        table = pa.concat_tables([pq.read_table(p) for p in parts], promote_options="default")
        tmp = folder / f".{uuid.uuid4()}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, folder / f"part-{parts[-1].name[5:-8]}-merged-{uuid.uuid4().hex[:8]}.parquet")
        for p in parts:
            p.unlink()
        merged[folder.name] = {"files": len(parts), "rows": table.num_rows}
    return merged


def main(argv=None):
    p = argparse.ArgumentParser(prog="pep_ml.features")
    p.add_argument("command", choices=["apply", "online-read", "online-write", "historical", "compact"])
    p.add_argument("--redis", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--offline", required=True)
    p.add_argument("--entity")
    p.add_argument("--input")
    p.add_argument("--output")
    a = p.parse_args(argv)
    if a.command == "apply":
        apply(a.redis, a.state, a.offline)
        print(json.dumps({"applied": True}))
        return 0
    if a.command == "compact":
        print(json.dumps(compact(a.offline)))
        return 0
    if a.command == "historical":
        # One file per entity first: the offline store's point-in-time join is slow over many small parts.
        compact(a.offline)
    fs, defs = store(a.redis, a.state, a.offline)
    with open(a.input) as fh:
        data = json.load(fh)
    if a.command == "online-read":
        result = online_read(fs, defs, a.entity, data)
    elif a.command == "online-write":
        online_write(fs, defs, data)
        result = {"written": len(data)}
    else:
        result = historical(fs, defs, data)
    text = json.dumps(result)
    if a.output:
        with open(a.output, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

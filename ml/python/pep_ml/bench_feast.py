"""Feast's own online read of the same keys our reader reads (the ml benchmark's comparison): p50/p99 of
get_online_features for a list of customer ids (every customer view), over a number of calls."""
import argparse
import json
import time

import numpy as np

from .repo import store


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--redis", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--offline", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--calls", type=int, default=300)
    a = p.parse_args()
    fs, defs = store(a.redis, a.state, a.offline)
    ids = json.load(open(a.ids))
    refs = [f"{v['name']}:{f['name']}" for v in defs.SPEC["views"] if v["entity"] == "customer" for f in v["features"]]
    rows = [{"customer_id": i} for i in ids]
    fs.get_online_features(features=refs, entity_rows=rows).to_dict()  # warm-up
    times = []
    for _ in range(a.calls):
        s = time.perf_counter()
        fs.get_online_features(features=refs, entity_rows=rows).to_dict()
        times.append((time.perf_counter() - s) * 1000)
    print(json.dumps({"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)), "calls": a.calls}))


if __name__ == "__main__":
    main()

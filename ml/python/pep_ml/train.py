"""Training, evaluation, ONNX export, MLflow registration and the promotion gate of one model (fraud or churn).

    python -m pep_ml.train fit      --data DIR             # LightGBM on the training window -> DIR/model.onnx, scores
    python -m pep_ml.train register --data DIR --tracking URI [--champion-scores FILE]

The training set (DIR/x.f32, DIR/meta.json) is built by ml/src/train/dataset.ts: point-in-time-correct rows from
Feast, vectorized by core-native, labels from later outcomes, the rules' scores beside them (rules-v1; for fraud also rules-v2, the gate's baseline
without a champion), split by time.
`register` logs the run (parameters, metrics, data window, feature spec version), registers the ONNX model,
moves the `challenger` alias to it and applies the gate; only a passed gate moves `champion`. A blocked promotion
is recorded on the run and the model version (tags `gate.decision`, `gate.reasons`, artifact gate.json)."""
import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# 100 trees of at most 15 leaves: the bench's quick set (1,248 training rows) scored ROC AUC 0.845 with 300 trees of
# 31 leaves (learning rate 0.05) and 0.845 with this, a sixth of the model; serving runs every tree for every row
# (onnxruntime-node CPU per 64-row run 0.45 -> 0.12 ms; ml/README.md, "Last measured").
LGBM_PARAMS = dict(
    n_estimators=100,
    learning_rate=0.1,
    num_leaves=15,
    min_child_samples=20,
    subsample=0.9,
    subsample_freq=1,
    colsample_bytree=0.9,
    reg_lambda=1.0,
    random_state=7,
    n_jobs=1,
    verbose=-1,
)
ALERT_RATES = (0.01, 0.05)
GATE = dict(
    bootstrap_samples=int(os.environ.get("ML_GATE_BOOTSTRAP", "500")),
    confidence=float(os.environ.get("ML_GATE_CONFIDENCE", "0.95")),
    psi_max=float(os.environ.get("ML_GATE_PSI_MAX", "0.25")),
    null_rate_delta_max=float(os.environ.get("ML_GATE_NULL_DELTA_MAX", "0.15")),
    out_of_range_max=float(os.environ.get("ML_GATE_OUT_OF_RANGE_MAX", "0.02")),
)


def load(data_dir):
    meta = json.loads((Path(data_dir) / "meta.json").read_text())
    x = np.fromfile(Path(data_dir) / "x.f32", dtype="<f4").reshape(meta["rows"], meta["cols"])
    return meta, x, np.asarray(meta["y"], dtype=np.int32), np.asarray(meta["split"]) == 1


def metrics_of(y, p):
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    out = {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p))}
    order = np.argsort(-p, kind="stable")
    for rate in ALERT_RATES:
        k = max(1, int(round(rate * len(p))))
        out[f"recall_at_{int(rate * 100)}pct_alerts"] = float(y[order[:k]].sum() / max(1, y.sum()))
    pc = np.clip(p, 0, 1)
    out["brier"] = float(brier_score_loss(y, pc))
    bins = np.minimum((pc * 10).astype(int), 9)
    ece = 0.0
    for b in range(10):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(pc[m].mean() - y[m].mean())
    out["ece"] = float(ece)
    return out


def fit(data_dir):
    import lightgbm as lgb
    import onnx
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    meta, x, y, is_eval = load(data_dir)
    xt, yt = x[~is_eval], y[~is_eval]
    if len(np.unique(yt)) < 2:
        raise SystemExit("the training window has one class only: not enough labelled history")
    started = time.time()
    pos = max(1, int(yt.sum()))
    clf = lgb.LGBMClassifier(**LGBM_PARAMS, scale_pos_weight=min(50.0, (len(yt) - pos) / pos))
    clf.fit(xt, yt)
    clf._Booster = float32_thresholds(clf.booster_)
    fit_s = time.time() - started
    onx = convert_lightgbm(
        clf, initial_types=[("input", FloatTensorType([None, x.shape[1]]))], zipmap=False, target_opset=15
    )
    # A symbolic batch dimension on every output (onnxruntime otherwise warns once per batch size).
    for out in onx.graph.output:
        dims = out.type.tensor_type.shape.dim
        if len(dims) > 0:
            dims[0].dim_param = "N"
    onnx.checker.check_model(onx)
    path = Path(data_dir) / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    p_eval = clf.predict_proba(x[is_eval])[:, 1]
    result = {
        "fit_seconds": fit_s,
        "train_rows": int((~is_eval).sum()),
        "eval_rows": int(is_eval.sum()),
        "train_positive_rate": float(yt.mean()),
        "eval_positive_rate": float(y[is_eval].mean()),
        "model": metrics_of(y[is_eval], p_eval),
        "rules": metrics_of(y[is_eval], np.asarray(meta["rules"])[is_eval]),
        **(
            {"rules_v2": metrics_of(y[is_eval], np.asarray(meta["rulesWithFeatures"])[is_eval])}
            if meta.get("rulesWithFeatures")
            else {}
        ),
        "onnx_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "params": {k: v for k, v in LGBM_PARAMS.items()},
    }
    (Path(data_dir) / "eval_scores.json").write_text(json.dumps(p_eval.tolist()))
    (Path(data_dir) / "fit.json").write_text(json.dumps(result))
    print(json.dumps(result))


def float32_thresholds(booster):
    """The same model with every numerical split threshold t replaced by the largest float32 <= t.

    The ONNX tree ensemble stores thresholds as float32, LightGBM as float64 midpoints between feature values. The
    inputs are float32 (core-native's vectorizer), so for a float32 x, `x <= t` equals `x <= floor32(t)`: LightGBM's
    predictions do not change, while rounding t to the NEAREST float32 (what the export does) flips the split for an
    x that rounds onto it (measured: one evaluation row 0.0022 apart). After this the export is exact."""
    import lightgbm as lgb

    def floor32(t):
        f = np.float32(t)
        if float(f) > t:
            f = np.nextafter(f, np.float32(-np.inf))
        return repr(float(f))

    lines = booster.model_to_string().splitlines()
    at = {}  # in the current tree, the line numbers of its threshold= and decision_type= lines
    for i, line in enumerate(lines):
        if line.startswith("Tree="):
            at = {}
        key = next((k for k in ("threshold=", "decision_type=") if line.startswith(k)), None)
        if key is None:
            continue
        at[key] = i
        if len(at) == 2:
            ts = lines[at["threshold="]].split("=", 1)[1].split()
            ds = [int(d) for d in lines[at["decision_type="]].split("=", 1)[1].split()]
            if len(ts) != len(ds):
                raise SystemExit("unexpected LightGBM model text: thresholds and decision types differ in number")
            # Bit 0 of decision_type marks a categorical split (its threshold is a category index): kept.
            lines[at["threshold="]] = "threshold=" + " ".join(t if d & 1 else floor32(float(t)) for t, d in zip(ts, ds))
    # tree_sizes= gives each tree's byte length for parallel parsing: the new thresholds change it, and without the
    # line LightGBM parses the trees one after another.
    return lgb.Booster(model_str="\n".join(x for x in lines if not x.startswith("tree_sizes=")) + "\n")


def psi(expected, actual, bins=10):
    qs = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    if len(qs) < 2:
        return 0.0
    qs[0], qs[-1] = -np.inf, np.inf
    e = np.histogram(expected, qs)[0] / len(expected)
    a = np.histogram(actual, qs)[0] / len(actual)
    e, a = np.clip(e, 1e-4, None), np.clip(a, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


def data_checks(meta, x, is_eval):
    names = meta["featureNames"]
    train, recent = x[~is_eval], x[is_eval]
    reasons, report = [], {"psi": {}, "null_rate": {}, "out_of_range": {}}
    if np.isnan(x).any():
        reasons.append(f"{int(np.isnan(x).sum())} NaN values in the feature matrix")
    for j, name in enumerate(names):
        a, b = train[:, j], recent[:, j]
        v = psi(a, b)
        report["psi"][name] = v
        if v > GATE["psi_max"]:
            reasons.append(f"PSI of {name} is {v:.3f} > {GATE['psi_max']}")
        if name.endswith("_record_present"):
            d = abs(float((a == 0).mean()) - float((b == 0).mean()))
            report["null_rate"][name] = d
            if d > GATE["null_rate_delta_max"]:
                reasons.append(f"missing-record rate of {name[: -len('_record_present')]} moved by {d:.3f}")
        lo, hi = float(a.min()), float(a.max())
        margin = 0.1 * (hi - lo)
        out = float(((b < lo - margin) | (b > hi + margin)).mean())
        report["out_of_range"][name] = out
        if out > GATE["out_of_range_max"]:
            reasons.append(f"{out:.1%} of recent {name} outside the training range [{lo:g}, {hi:g}] (+10%)")
    return reasons, report


ALERT_RATE_MAX = float(os.environ.get("ML_FRAUD_ALERT_RATE_MAX", "0.05"))


def alert_threshold(y, p, rate_max=ALERT_RATE_MAX):
    """The fraud alert threshold served with this model (a score at or above it is risk level `high`).

    Chosen on the evaluation window (later in time than the training rows): of the thresholds whose alert rate there
    is at most `rate_max`, the one with the best F1 (precision and recall of the alerts against the outcome labels);
    ties go to the higher threshold. Returns the threshold and its precision, recall and alert rate on that window,
    or None when the window has no positive (nothing to choose from)."""
    y = np.asarray(y, dtype=np.int32)
    p = np.asarray(p, dtype=np.float64)
    positives = int(y.sum())
    if positives == 0 or len(p) == 0:
        return None
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    best = None
    for k in range(1, len(ps) + 1):
        # Alerts are every row scoring at or above ps[k-1]: only the last row of a run of equal scores is a cut.
        if k < len(ps) and ps[k] == ps[k - 1]:
            continue
        if k / len(ps) > rate_max:
            break
        precision, recall = tp[k - 1] / k, tp[k - 1] / positives
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        if best is None or f1 > best["f1"]:
            best = {"threshold": float(ps[k - 1]), "precision": float(precision), "recall": float(recall),
                    "alert_rate": k / len(ps), "f1": float(f1)}
    return best


def bootstrap_lower_bound(y, challenger, baseline, samples, confidence, seed=11):
    """Lower bound of the paired bootstrap distribution of AUC(challenger) - AUC(baseline)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    n, diffs = len(y), []
    for _ in range(samples):
        idx = rng.integers(0, n, n)
        if y[idx].min() == y[idx].max():
            continue
        diffs.append(roc_auc_score(y[idx], challenger[idx]) - roc_auc_score(y[idx], baseline[idx]))
    if not diffs:
        return float("-inf"), float("nan")
    return float(np.quantile(diffs, 1 - confidence)), float(np.mean(diffs))


def gate_baseline(meta, is_eval, champion):
    """The scores the challenger must beat on the evaluation rows: what serves the model today. The champion when
    there is one (scored on the same rows by train.ts); without one, the rules that answer instead: for fraud that is
    rules-v2 (rules-v1 plus the online-feature rules, ml/src/rules.ts), which the service answers whenever it has
    features; rules-v1 only for churn, or for a set built without rules-v2's scores."""
    if champion is not None:
        return np.asarray(champion["scores"]), f"champion v{champion['version']}"
    if meta.get("rulesWithFeatures"):
        return np.asarray(meta["rulesWithFeatures"])[is_eval], "rules-v2 (no champion yet: what serves)"
    return np.asarray(meta["rules"])[is_eval], "rules-v1 (no champion yet: what serves)"


def register(data_dir, tracking, champion_scores_path, run_name=None, registered_name=None):
    import mlflow
    from mlflow import MlflowClient

    meta, x, y, is_eval = load(data_dir)
    fit_result = json.loads((Path(data_dir) / "fit.json").read_text())
    challenger = np.asarray(json.loads((Path(data_dir) / "eval_scores.json").read_text()))
    name = registered_name or meta["model"]
    mlflow.set_tracking_uri(tracking)
    client = MlflowClient()
    mlflow.set_experiment(name)
    champion = None
    if champion_scores_path:
        champion = json.loads(Path(champion_scores_path).read_text())
    ye = y[is_eval]
    baseline, baseline_name = gate_baseline(meta, is_eval, champion)
    lower, mean_diff = bootstrap_lower_bound(ye, challenger, baseline, GATE["bootstrap_samples"], GATE["confidence"])
    reasons = []
    if not lower > 0:
        reasons.append(
            f"ROC AUC gain over {baseline_name}: {GATE['confidence']:.0%} lower bound {lower:.4f} is not above 0 "
            f"(mean {mean_diff:.4f})"
        )
    data_reasons, report = data_checks(meta, x, is_eval)
    reasons += data_reasons
    decision = "promoted" if not reasons else "blocked"
    # The model's own alert threshold (fraud): served as its `alert_threshold` tag (ml/README.md).
    alert = alert_threshold(ye, challenger) if meta["model"] == "fraud" else None
    alert_tags = {"alert_threshold": f"{alert['threshold']:.6f}"} if alert else {}
    gate = {
        "decision": decision,
        "reasons": reasons,
        "baseline": baseline_name,
        "auc_gain_lower_bound": lower,
        "auc_gain_mean": mean_diff,
        "thresholds": GATE,
        "data_checks": report,
    }
    with mlflow.start_run(run_name=run_name or f"{name}-{meta['window']['evalTo'][:10]}") as run:
        mlflow.log_params({**fit_result["params"], "rows": meta["rows"], "features": meta["cols"]})
        mlflow.log_params(
            {
                "feature_spec_version": meta["specVersion"],
                "train_from": meta["window"]["trainFrom"],
                "eval_from": meta["window"]["evalFrom"],
                "eval_to": meta["window"]["evalTo"],
            }
        )
        flat = {f"model_{k}": v for k, v in fit_result["model"].items()}
        flat.update({f"rules_{k}": v for k, v in fit_result["rules"].items()})
        flat.update({f"rules_v2_{k}": v for k, v in fit_result.get("rules_v2", {}).items()})
        flat.update(
            {
                "train_rows": fit_result["train_rows"],
                "eval_rows": fit_result["eval_rows"],
                "eval_positive_rate": fit_result["eval_positive_rate"],
                "fit_seconds": fit_result["fit_seconds"],
                "gate_auc_gain_lower_bound": lower if np.isfinite(lower) else -1.0,
                "gate_psi_max": max(report["psi"].values()),
                "gate_passed": 1.0 if decision == "promoted" else 0.0,
            }
        )
        if alert:
            mlflow.log_metrics({f"alert_{k}_eval" if k != "threshold" else "alert_threshold": v for k, v in alert.items()})
        mlflow.log_metrics(flat)
        mlflow.set_tags(
            {
                "feature_spec_version": meta["specVersion"],
                "gate.decision": decision,
                "gate.reasons": "; ".join(reasons)[:4900] or "all checks passed",
                "data_window": f"{meta['window']['trainFrom']}..{meta['window']['evalTo']}",
                **alert_tags,
            }
        )
        gate_path = Path(data_dir) / "gate.json"
        gate_path.write_text(json.dumps(gate, indent=2))
        mlflow.log_artifact(str(gate_path))
        mlflow.log_artifact(str(Path(data_dir) / "model.onnx"), artifact_path="model")
        # Per-feature and score bins of the training window (ml/src/drift/reference.ts), read by `npm run drift`.
        reference = Path(data_dir) / "drift_reference.json"
        if reference.exists():
            mlflow.log_artifact(str(reference), artifact_path="model")
        artifact_uri = run.info.artifact_uri
        run_id = run.info.run_id
    try:
        client.get_registered_model(name)
    except Exception:
        client.create_registered_model(name, description=f"{name} model (LightGBM -> ONNX), served by ml/ inference")
    mv = client.create_model_version(
        name,
        source=f"{artifact_uri}/model",
        run_id=run_id,
        tags={
            "feature_spec_version": meta["specVersion"],
            "onnx_sha256": fit_result["onnx_sha256"],
            "gate.decision": decision,
            "gate.reasons": "; ".join(reasons)[:4900] or "all checks passed",
            **alert_tags,
        },
    )
    client.set_registered_model_alias(name, "challenger", mv.version)
    if decision == "promoted":
        client.set_registered_model_alias(name, "champion", mv.version)
    summary = {
        "model": name,
        "version": int(mv.version),
        "run_id": run_id,
        "decision": decision,
        "reasons": reasons,
        "baseline": baseline_name,
        "auc_gain_lower_bound": lower,
        "model_roc_auc": fit_result["model"]["roc_auc"],
        "rules_roc_auc": fit_result["rules"]["roc_auc"],
        "rules_v2_roc_auc": fit_result.get("rules_v2", {}).get("roc_auc"),
        "alert": alert,
        "metrics": fit_result,
    }
    print(json.dumps(summary))


def main(argv=None):
    p = argparse.ArgumentParser(prog="pep_ml.train")
    p.add_argument("command", choices=["fit", "register"])
    p.add_argument("--data", required=True)
    p.add_argument("--tracking")
    p.add_argument("--champion-scores")
    p.add_argument("--run-name")
    p.add_argument("--registered-name", help="registry name (default: the model, fraud or churn)")
    a = p.parse_args(argv)
    if a.command == "fit":
        fit(a.data)
    else:
        if not a.tracking:
            raise SystemExit("--tracking is required for register")
        register(a.data, a.tracking, a.champion_scores, a.run_name, a.registered_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

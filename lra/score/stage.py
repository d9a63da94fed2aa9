"""The score stage: test accuracy of LRA and of the baselines on the same features, and the
training-label issue table."""

from __future__ import annotations

import logging

import numpy as np

from ..core import features
from ..core.errors import LraError
from ..core.files import read_table, write_frame, write_json
from ..core.linear import linear_probe, out_of_fold_proba
from ..data.stage import load_manifest, load_observed
from ..diffusion.stage import ranked_rows
from ..retrieval.stage import neighbor_rows
from . import baselines, metrics, subsample
from .issues import label_issues

log = logging.getLogger("lra")

BASELINES = ("knn_vote", "linear_probe", "cleanlab", "datalab_relabel")


def score(manifest, labels, feature_paths: list[str], neighbors_path, predictions, out_metrics, out_issues,
          run: dict | None = None, seed: int = 0, baseline_names=BASELINES, baseline_sample: int = 50_000) -> dict:
    """Test accuracy of LRA and of the baselines on the same features; the training-label issue table.

    The fitted baselines learn from all train items up to `baseline_sample` of them, beyond that
    from a stratified sample (`lra.score.subsample`; metrics.json's `baseline_sample` says which),
    and are scored on the whole test split. Only the features of those items and of the test split
    are read, once, in the precision stored."""
    m = load_manifest(manifest, feature_paths)
    f = m.frame
    pred = read_table(predictions, required=["id", "split", "predicted", "y0"], what="the prediction table").to_pandas()
    pred = pred.iloc[features.align(pred["id"].astype(str).to_numpy(), f["id"].to_numpy(str), predictions)]
    truth = f["clean_label"].fillna(f["label"]).to_numpy(dtype=np.int64)
    observed = load_observed(labels, f["id"].to_numpy(str))
    test = (f["split"] == "test").to_numpy()
    train = (f["split"] == "train").to_numpy()
    y_pred = pred["predicted"].to_numpy()
    out = {
        "run": run or {},
        "n_test": int(test.sum()),
        "n_train": int(train.sum()),
        "accuracy": metrics.accuracy(y_pred[test], truth[test]),
        "per_class_accuracy": metrics.per_class_accuracy(y_pred[test], truth[test], m.classes),
    }
    if len(m.classes) >= 5:  # ranked as predict read the classes out: by the combined scores where it mixed them
        out["top5_accuracy"] = metrics.top_k_accuracy(ranked_rows(pred, test), truth[test], 5)
    if "majority" in pred:
        out["accuracy_stochastic"] = metrics.accuracy(pred["majority"].to_numpy()[test], truth[test])
    clean_train = train & f["clean_label"].notna().to_numpy()
    if clean_train.any():
        out["train_noise_rate"] = float((observed != truth)[clean_train].mean())
    ids = f["id"].to_numpy(str)
    fit = subsample.fit_rows(np.flatnonzero(train), observed, baseline_sample, seed)
    out["baseline_sample"] = fit.record
    if fit.record["sampled"]:
        log.info("score: baselines fit on a stratified sample of %d of %d train items", len(fit.rows), train.sum())
    x = features.load(feature_paths, ids[np.concatenate([fit.rows, np.flatnonzero(test)])])  # the one copy
    x_fit, x_test = x[:len(fit.rows)], x[len(fit.rows):]
    out["baselines"] = _baselines(x_fit, x_test, fit.rows, ids, train, test, observed, truth, neighbors_path,
                                  len(m.classes), seed, baseline_names, clean_known=clean_train.sum() == train.sum())
    issues = label_issues(ids, pred, observed, train)
    if clean_train.sum() == train.sum():
        wrong = observed != truth
        ours = issues.sort_values("row")["flag"].to_numpy()
        # cleanlab needs out-of-fold probabilities of every item it scores: the fit rows (a sample at scale)
        oof = out_of_fold_proba(x_fit, observed[fit.rows], len(m.classes), seed)
        flagged = baselines.cleanlab_issues(observed[fit.rows], oof)
        out["label_issues"] = {**metrics.precision_recall_f1(ours, wrong[train]),
                               "cleanlab": metrics.precision_recall_f1(flagged, wrong[fit.rows])}
        if fit.record["sampled"]:  # ours on the very items cleanlab scored
            out["label_issues"]["ours_on_sample"] = metrics.precision_recall_f1(ours[fit.positions], wrong[fit.rows])
    write_frame(issues.drop(columns="row"), out_issues)
    write_json(out, out_metrics)
    return out


def _baselines(x_fit, x_test, fit_rows, ids, train, test, observed, truth, neighbors_path, C, seed, names,
               clean_known) -> dict:
    """Test accuracy of each named baseline on the same features; with clean train labels also
    the clean-label linear probe and kNN vote, the upper bounds of learning from these features.
    The fitted ones learn from the `fit_rows` (features `x_fit`); the kNN votes use every train item."""
    unknown = set(names) - set(BASELINES)
    if unknown:
        raise LraError(f"config key baselines: unknown {sorted(unknown)}; choose from {', '.join(BASELINES)}")
    train_pos = neighbor_rows(neighbors_path, ids[test], ids[train])
    fits = {"linear_probe": linear_probe, "cleanlab": baselines.clean_learning,
            "datalab_relabel": baselines.datalab_relabel}
    out = {}
    for name in names:
        if name == "knn_vote":
            pred = baselines.knn_vote(observed[train][train_pos], C)
        else:
            pred = fits[name](x_fit, observed[fit_rows], x_test, C, seed).argmax(axis=1)
        out[name] = metrics.accuracy(pred, truth[test])
    if clean_known:
        out["clean_knn_vote"] = metrics.accuracy(baselines.knn_vote(truth[train][train_pos], C), truth[test])
        clean = linear_probe(x_fit, truth[fit_rows], x_test, C, seed)
        out["clean_linear_probe"] = metrics.accuracy(clean.argmax(axis=1), truth[test])
    return out

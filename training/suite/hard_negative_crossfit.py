"""Hard negatives, cross-fitted: every lawful look-alike scored by a refit that never saw it.

The hard-negative section scores the look-alikes of the held-out splits, and those are few:
on the shared data 17 knives and 3 toy guns, where one false positive moves the rate by six
points and no count can show a rate below 5% (the Wilson interval of 0 of 17 reaches 18%).
Most look-alikes sit in the train split, where the bundle has learnt them.

This section retrains the bundle's own recipe (:meth:`BaselineOptions.of_bundle`, on the
dataset it was trained on) ``folds`` times. Each refit leaves out one fold of the train
split's look-alike rows, whole near-duplicate groups at a time (the split's own unit, so a
re-post of a held-out row does not stay in training), and scores that fold. Every training
look-alike is scored once, by a model that never saw it or its group; pooled with the
held-out rows, each group's rate rests on all of its rows. Two things move it, in opposite
directions: a refit lacks one fold of the look-alikes the bundle learnt from (the rate leans
high), and a near-sibling filed under another group ("Knife - Tomato" and "Knife - Tomato
Cutting" are two clusters) may stay in training (it leans low). So the figure depends on the
fold draw (``seed``) by a row or two in a small group; read it with its interval.

Only the baseline kind is retrained: one refit of the default recipe takes ~2 minutes on two
cores, one of the transformer tens of minutes.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.dataset import read_info
from model import Classifier
from model.thresholds import BLOCK, REVIEW
from training.baseline import BaselineOptions, train_baseline
from training.lookalike_groups import group_membership, hard_negative_rows, load_definition
from training.metrics import wilson_interval
from training.suite.common import bundle_texts, rounded

log = logging.getLogger(__name__)

RETRAINABLE_KIND = "baseline"
FLAGGED_EXAMPLES = 5  # titles of cross-fitted false positives kept per group, for the report


def check_cross_fittable(classifier: Classifier, dataset: Path, folds: int) -> None:
    """Refuse, before any work, what cannot be cross-fitted, saying why."""
    if folds < 2:
        raise ValueError(f"--hard-negative-folds must be at least 2 (each refit leaves one "
                         f"fold out), got {folds}")
    kind = classifier.config.get("kind")
    if kind != RETRAINABLE_KIND:
        raise ValueError(f"cross-fitted hard negatives retrain the bundle's recipe once per "
                         f"fold; only {RETRAINABLE_KIND} bundles can be retrained so, and "
                         f"{classifier.version} is a {kind} bundle")
    trained_on = classifier.config.get("dataset", {}).get("fingerprint")
    fingerprint = read_info(dataset)["fingerprint"]
    if trained_on != fingerprint:
        raise ValueError(f"{classifier.version} was trained on dataset "
                         f"{str(trained_on)[:12]}…, not on {dataset} ({fingerprint[:12]}…); "
                         "its recipe's refits must train on the rows it trained on")


def assign_folds(groups: pd.Series, folds: int, seed: int) -> np.ndarray:
    """Fold number of each row: whole groups, shuffled with ``seed``, dealt round-robin."""
    names = np.unique(groups.to_numpy(dtype=str))
    fold_of = dict(zip(names[np.random.default_rng(seed).permutation(len(names))],
                       np.arange(len(names)) % folds, strict=True))
    return groups.astype(str).map(fold_of).to_numpy(dtype=np.int64)


def lookalike_training_rows(train: pd.DataFrame, definition: str | Path | None,
                            negative: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The train split's lawful surface rows in any group, and each group's mask over them."""
    rows = hard_negative_rows({"train": train}, ["train"], negative)
    masks, in_any = group_membership(rows, load_definition(definition)[1])
    return rows[in_any].reset_index(drop=True), {n: m[in_any] for n, m in masks.items()}


def _refit_and_score(classifier: Classifier, dataset: Path, held: pd.DataFrame, fold: int,
                     folds: int, models_root: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Train the bundle's recipe without ``held``'s groups; its labels and decisions there."""
    extra = [Path(p) for p in classifier.config.get("training", {}).get("extra_files", [])]
    missing = [str(p) for p in extra if not p.is_file()]
    if missing:
        raise ValueError(f"{classifier.version} was trained with extra files that are gone: "
                         f"{missing}")
    started = time.perf_counter()
    path = train_baseline(dataset, models_root, BaselineOptions.of_bundle(classifier.config),
                          extra=extra, name=f"crossfit-{fold + 1}-of-{folds}",
                          make_default=False, exclude_groups=set(held["group"].astype(str)))
    refit = Classifier.load(path)
    proba = refit.predict_proba_texts(bundle_texts(refit, held))
    labels = np.asarray(refit.labels.names)[proba.argmax(axis=1)]
    decisions = np.asarray(refit.decide(proba)[0])
    record = {"fold": fold + 1, "held_rows": len(held),
              "excluded_train_rows": refit.config["dataset"]["excluded_rows"],
              "seconds": round(time.perf_counter() - started, 1)}
    log.info("cross-fit %d of %d: %d look-alikes held out (%d train rows), %d flagged, %.0f s",
             fold + 1, folds, len(held), record["excluded_train_rows"],
             int(np.sum(labels != refit.labels.negative)), record["seconds"])
    return labels, decisions, record


def cross_fitted_hard_negatives(classifier: Classifier, dataset: Path,
                                frames: dict[str, pd.DataFrame], held_out: dict[str, Any],
                                definition: str | Path | None = None, *, folds: int = 5,
                                seed: int = 0) -> dict[str, Any]:
    """Per group: the training look-alikes' false positives under the refits, and the rate
    pooled with ``held_out`` (the hard-negative section's result on the held-out splits)."""
    check_cross_fittable(classifier, dataset, folds)
    negative = classifier.labels.negative
    rows, masks = lookalike_training_rows(frames["train"], definition, negative)
    fold_of = assign_folds(rows["group"], folds, seed)
    labels = np.empty(len(rows), dtype=object)
    decisions = np.empty(len(rows), dtype=object)
    refits = []
    with tempfile.TemporaryDirectory(prefix="contraband-crossfit-") as tmp:
        for fold in range(folds):
            at = np.flatnonzero(fold_of == fold)
            if not len(at):
                continue
            labels[at], decisions[at], record = _refit_and_score(
                classifier, dataset, rows.iloc[at], fold, folds, Path(tmp))
            refits.append(record)
    result = {}
    for name, mask in masks.items():
        n, flagged = int(mask.sum()), labels[mask] != negative
        hits = int(flagged.sum())
        before = held_out.get("groups", {}).get(name, {})
        pooled_n = n + int(before.get("rows") or 0)
        pooled_hits = hits + int(before.get("fp_argmax") or 0)
        result[name] = {
            "training_rows": n,
            "fp_argmax": hits,
            "fp_rate_argmax": rounded(hits / n) if n else None,
            "fp_rate_block_or_review": rounded(np.mean(np.isin(decisions[mask],
                                                               [BLOCK, REVIEW]))) if n else None,
            "predicted": {str(k): int(v) for k, v in
                          pd.Series(labels[mask]).value_counts().items()},
            "flagged_examples": rows.loc[mask, "title"][flagged].head(FLAGGED_EXAMPLES).tolist(),
            "pooled_rows": pooled_n,
            "pooled_fp_argmax": pooled_hits,
            "pooled_fp_rate_argmax": rounded(pooled_hits / pooled_n) if pooled_n else None,
            "pooled_interval": [rounded(v) for v in wilson_interval(pooled_hits, pooled_n)]
            if pooled_n else None,
        }
    return {"folds": folds, "seed": seed, "refits": refits, "groups": result}


def headline(result: dict[str, Any]) -> dict[str, float]:
    """Each group's pooled rate (held-out rows and cross-fitted training rows together)."""
    return {f"hard_negatives.{name}.fp_rate_pooled": g["pooled_fp_rate_argmax"]
            for name, g in result.get("groups", {}).items() if g["pooled_rows"]}

"""``build_cascade``: join a baseline and a transformer bundle, the cut chosen on validation.

For every candidate cut the validation listings whose baseline max-probability is below it
go to the transformer, whose scores are blended with the baseline's at each candidate
weight (1.0 = the transformer alone; the two models err differently, so a blend often beats
either). The chosen (cut, weight) is the one sending the fewest listings to the transformer
among those whose validation macro-F1 is within ``tolerance`` of the best, with at most
``max_routed`` of the listings routed (the throughput budget: the transformer is 10–50
times slower than the baseline); among equal routing, the higher weight.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from model.bundle import dataset_fingerprint
from model.cascade import CascadeModel
from model.classifier import Classifier
from model.priors import label_shift_record
from model.thresholds import choose_thresholds
from training.card import source_prior_text
from training.transformer.card import render_card
from training.transformer.metrics import frame_metrics, macro_f1
from training.transformer.pipeline import (
    RUNTIME_PACKAGES,
    class_ids,
    read_dataset,
    runtime_package_versions,
)

log = logging.getLogger(__name__)

EVALUATE = ("test", "oot", "cross_market")


SLOW_WEIGHTS = (1.0, 0.75, 0.5)


def choose_cut(
    fast: np.ndarray, slow: np.ndarray, y: np.ndarray, *, max_routed: float = 0.3,
    tolerance: float = 0.002, slow_weights: tuple[float, ...] = SLOW_WEIGHTS,
) -> dict[str, Any]:
    """The cut and its validation figures; see the module docstring for the rule."""
    if not 0 <= max_routed <= 1:
        raise ValueError(f"max_routed must be within [0, 1], got {max_routed}")
    confidence = fast.max(axis=1)
    candidates = np.unique(np.r_[0.0, np.quantile(confidence, np.linspace(0, 1, 101)),
                                 np.linspace(0.3, 1.0, 71)])
    fast_pred, slow_pred = fast.argmax(axis=1), slow.argmax(axis=1)
    grid = []
    for weight in slow_weights:
        routed_pred = (weight * slow + (1 - weight) * fast).argmax(axis=1)
        for cut in candidates:
            routed = confidence < cut
            pred = np.where(routed, routed_pred, fast_pred)
            grid.append((float(cut), float(weight), float(routed.mean()), macro_f1(y, pred)))
    allowed = [g for g in grid if g[2] <= max_routed] or [grid[0]]
    best = max(g[3] for g in allowed)
    cut, weight, routed, score = min((g for g in allowed if g[3] >= best - tolerance),
                                     key=lambda g: (g[2], -g[1], g[0]))
    return {"cut": float(cut), "slow_weight": weight, "routed_validation": round(routed, 5),
            "validation_macro_f1": round(score, 5),
            "baseline_validation_macro_f1": round(macro_f1(y, fast_pred), 5),
            "transformer_validation_macro_f1": round(macro_f1(y, slow_pred), 5),
            "max_routed": max_routed, "tolerance": tolerance}


def require_same_dataset(info: dict, parts: dict[str, Classifier]) -> None:
    """Refuse parts trained on another built dataset than the one the cascade is built on.

    The cut and thresholds are chosen on this dataset's validation split and the figures are
    measured on its test sets; a part trained on another build (another seed, policy or
    source set) may have trained on those very rows, and its scores would look better than
    they are.
    """
    wanted = info.get("fingerprint")
    for role, clf in parts.items():
        theirs = dataset_fingerprint(clf.config)
        if theirs != wanted:
            raise ValueError(
                f"the {role} {clf.version} was trained on dataset {str(theirs)[:12]}…, not on "
                f"{info.get('name')} ({str(wanted)[:12]}…) that the cascade is built and "
                "measured on; train it on this dataset, or pass --dataset with the one it was "
                "trained on")


def build_cascade(
    baseline_bundle: str | os.PathLike,
    transformer_bundle: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_routed: float = 0.3,
    tolerance: float = 0.002,
    name: str | None = None,
) -> Path:
    """Save a cascade bundle in ``out_dir``: cut and thresholds chosen on validation."""
    fast_clf = Classifier.load(baseline_bundle)
    slow_clf = Classifier.load(transformer_bundle)
    for part, clf, bundle in (("baseline", fast_clf, baseline_bundle),
                              ("transformer", slow_clf, transformer_bundle)):
        if clf.model.kind != part:  # "default" resolves to the newest bundle when none is set
            raise ValueError(f"the cascade's {part} part {bundle} is a {clf.model.kind} bundle; "
                             f"give a {part} bundle (--cascade-{part} NAME or PATH)")
    if fast_clf.labels != slow_clf.labels:
        raise ValueError(f"the bundles have different labels: {fast_clf.labels.names} vs "
                         f"{slow_clf.labels.names}")
    limits = {int(c.config["max_description_chars"]) for c in (fast_clf, slow_clf)}
    if len(limits) != 1:
        raise ValueError("the baseline and transformer read different text (max description "
                         f"chars {sorted(limits)}); a cascade needs both to read the same")
    labels = fast_clf.labels
    limit = limits.pop()
    labels_ds, info, frames = read_dataset(Path(dataset_dir), ["train", "validation", *EVALUATE])
    if labels_ds != labels:
        raise ValueError(f"the dataset's labels {labels_ds.names} differ from the models' "
                         f"{labels.names}")
    require_same_dataset(info, {"baseline": fast_clf, "transformer": slow_clf})

    def texts(frame) -> list[str]:
        if "title" in frame and "description" in frame:
            return fast_clf.prepare(
                {"title": t, "description": d if isinstance(d, str) else None}
                for t, d in zip(frame["title"], frame["description"], strict=True)
            )
        return frame["text"].astype(str).tolist()

    val = frames["validation"]
    y_val = class_ids(val, labels, "validation")
    val_texts = texts(val)
    fast_val = fast_clf.predict_proba_texts(val_texts)
    slow_val = slow_clf.predict_proba_texts(val_texts)
    choice = choose_cut(fast_val, slow_val, y_val, max_routed=max_routed, tolerance=tolerance)
    log.info("cascade cut %.4f routes %.1f%% of validation to the transformer (macro-F1 %.4f)",
             choice["cut"], 100 * choice["routed_validation"], choice["validation_macro_f1"])
    cascade = CascadeModel(fast_clf.model, slow_clf.model, choice["cut"], choice["slow_weight"])
    proba_val = np.where(cascade.route(fast_val)[:, None], cascade.blend(fast_val, slow_val),
                         fast_val)
    thresholds = choose_thresholds(proba_val, y_val, labels)

    metrics: dict[str, Any] = {"validation": frame_metrics(val, y_val, proba_val, labels)}
    for split in EVALUATE:
        if split not in frames or frames[split].empty:
            continue
        frame = frames[split]
        split_texts = texts(frame)
        proba = fast_clf.predict_proba_texts(split_texts)
        routed = cascade.route(proba)
        if routed.any():
            proba[routed] = cascade.blend(proba[routed], slow_clf.predict_proba_texts(
                [t for t, r in zip(split_texts, routed, strict=True) if r]))
        metrics[split] = frame_metrics(frame, class_ids(frame, labels, split), proba, labels)
        metrics[split]["routed"] = round(float(routed.mean()), 5)
        log.info("%s: cascade macro-F1 %.4f", split, metrics[split]["macro_f1"])

    now = dt.datetime.now(dt.UTC)
    version = name or f"cascade-{now.strftime('%Y%m%d-%H%M%S')}"
    dataset = {k: info.get(k) for k in ("name", "fingerprint", "policy", "splits")}
    fast_needs = fast_clf.config.get("runtime_packages") or ["scikit-learn"]
    config = {
        "version": version, "created_at": now.isoformat(timespec="seconds"),
        "max_description_chars": limit,
        "runtime_packages": sorted(set(fast_needs) | set(RUNTIME_PACKAGES)),
        "packages": {**fast_clf.config.get("packages", {}), **runtime_package_versions()},
        "dataset": dataset, "metrics": metrics, "cascade": choice,
        **label_shift_record(proba_val, y_val, labels.names),
        "parts": {"baseline": fast_clf.version, "transformer": slow_clf.version},
    }
    card = render_card(
        title=f"contraband cascade model {version}",
        summary=f"The baseline `{fast_clf.version}` answers listings it scores at least "
                f"{choice['cut']:.3f} for one class; the transformer `{slow_clf.version}` "
                f"answers the rest, its scores weighted {choice['slow_weight']:.2f} against "
                "the baseline's.",
        labels=labels, dataset=dataset, metrics=metrics,
        training=[
            source_prior_text(config["source_prior"], labels.names),
            f"cut {choice['cut']:.4f} chosen on validation: {choice['routed_validation']:.1%} "
            f"of validation listings routed to the transformer (at most {max_routed:.0%} "
            f"allowed); validation macro-F1 {choice['validation_macro_f1']:.4f} vs baseline "
            f"{choice['baseline_validation_macro_f1']:.4f} and transformer "
            f"{choice['transformer_validation_macro_f1']:.4f}",
            "thresholds chosen on the cascade's validation scores",
        ],
    )
    classifier = Classifier(cascade, labels, thresholds=thresholds, config=config)
    path = classifier.save(Path(out_dir) / version, card=card)
    log.info("saved %s", path)
    return path

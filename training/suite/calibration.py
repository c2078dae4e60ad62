"""How far a bundle's scores can be taken at face value, per class.

- Expected calibration error (ECE) per class, one-vs-rest: the row-weighted mean gap between
  the average score and the share of true rows in 15 equal-width score bins.
- Three score variants: ``uncalibrated`` (the baseline's raw SVM margins through a softmax;
  the transformer's softmax is both raw and shipped), ``shipped`` (what the bundle serves),
  and ``temperature`` (the shipped scores with one temperature fitted on the validation
  split, a post-hoc fix that keeps every ranking and so every precision/recall figure).
- Precision at recall 0.9 for each illicit class, with the score cut that gives it: what a
  moderation team sets a review threshold by.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import softmax
from sklearn.metrics import precision_recall_curve

from model import Classifier
from model.labels import LabelSet
from training.suite.common import rounded

N_BINS = 15
TARGET_RECALL = 0.9


def reliability(scores: np.ndarray, truth: np.ndarray, n_bins: int = N_BINS) -> dict[str, Any]:
    """Bins of one class's scores: mean score, share true, rows; and the ECE."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(scores, edges[1:-1]), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        mask = index == b
        n = int(mask.sum())
        if not n:
            continue
        mean_score, share = float(scores[mask].mean()), float(truth[mask].mean())
        ece += n / len(scores) * abs(mean_score - share)
        bins.append({"low": float(edges[b]), "mean_score": rounded(mean_score),
                     "share_true": rounded(share), "rows": n})
    return {"ece": rounded(ece), "bins": bins}


def per_class_ece(proba: np.ndarray, y: np.ndarray, labels: LabelSet) -> dict[str, Any]:
    return {name: reliability(proba[:, k], (y == k).astype(float))
            for k, name in enumerate(labels.names)}


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising validation log-loss of softmax(log p / T)."""
    logp = np.log(np.clip(proba, 1e-12, 1.0))

    def nll(log_t: float) -> float:
        p = softmax(logp / np.exp(log_t), axis=1)
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(np.log(np.clip(proba, 1e-12, 1.0)) / temperature, axis=1)


def uncalibrated(classifier: Classifier, texts: list[str]) -> np.ndarray | None:
    """Raw model scores before any calibration, where the model kind exposes them."""
    model = classifier.model
    if callable(getattr(model, "decision_function", None)):
        margins = np.asarray(model.decision_function(texts))
        if margins.ndim == 3:  # (rows, calibration folds, classes)
            margins = margins.mean(axis=1)
        return softmax(margins, axis=1)
    if callable(getattr(model, "logits", None)):
        return softmax(np.asarray(model.logits(texts), dtype=np.float64), axis=1)
    return None


def precision_at_recall(proba: np.ndarray, y: np.ndarray, labels: LabelSet,
                        recall: float = TARGET_RECALL) -> dict[str, Any]:
    """Per illicit class: the best precision at recall ≥ ``recall``, and the cut giving it."""
    out = {}
    for name in labels.illicit:
        k = labels.index(name)
        truth = y == k
        if not truth.any():
            continue
        precision, rec, cuts = precision_recall_curve(truth, proba[:, k])
        ok = np.flatnonzero(rec[:-1] >= recall)
        best = ok[np.argmax(precision[ok])] if len(ok) else None
        out[name] = {
            "support": int(truth.sum()),
            "precision": rounded(precision[best]) if best is not None else 0.0,
            "recall": rounded(rec[best]) if best is not None else 0.0,
            "threshold": rounded(cuts[best], 6) if best is not None else None,
        }
    return out


def calibration_suite(classifier: Classifier, validation_texts: list[str],
                      validation_y: np.ndarray, test_texts: list[str],
                      test_y: np.ndarray) -> dict[str, Any]:
    labels = classifier.labels
    shipped = classifier.predict_proba_texts(test_texts)
    temperature = fit_temperature(classifier.predict_proba_texts(validation_texts), validation_y)
    variants = {"shipped": shipped, "temperature": apply_temperature(shipped, temperature)}
    raw = uncalibrated(classifier, test_texts)
    if raw is not None:
        variants = {"uncalibrated": raw, **variants}
    ece = {v: per_class_ece(p, test_y, labels) for v, p in variants.items()}
    return {
        "rows": len(test_y),
        "temperature": rounded(temperature),
        "variants": list(variants),
        "ece": {v: {n: r["ece"] for n, r in per.items()} for v, per in ece.items()},
        "max_ece": {v: max(r["ece"] for r in per.values()) for v, per in ece.items()},
        "reliability": {v: {n: r["bins"] for n, r in per.items()} for v, per in ece.items()},
        "precision_at_recall_0.9": precision_at_recall(shipped, test_y, labels),
    }


def headline(result: dict[str, Any]) -> dict[str, float]:
    out = {}
    for variant, per in result["ece"].items():
        for name, value in per.items():
            out[f"calibration.ece.{variant}.{name}"] = value
    for name, r in result["precision_at_recall_0.9"].items():
        out[f"calibration.precision_at_recall_0.9.{name}"] = r["precision"]
    return out

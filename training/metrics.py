"""Classification metrics, computed the same way for every report."""

from __future__ import annotations

import math
from collections.abc import Iterator
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from model.labels import LabelSet

BOOTSTRAP_RESAMPLES = 500


def groups_of(frame: pd.DataFrame) -> np.ndarray | None:
    """A split's vendor groups, for vendor-level bootstrap intervals (None if it has none)."""
    return frame["group"].to_numpy() if "group" in frame.columns else None


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: LabelSet,
    groups: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per-class precision / recall / F1, macro-F1 with a 95% bootstrap interval, accuracy
    and the confusion matrix.

    Macro-F1 averages over the classes present in ``y_true`` (the 2020 markets have no
    weapons and no lawful listings); predictions into absent classes still count against
    the recall of the true class. With ``groups`` (vendor or near-duplicate cluster per
    row) the interval resamples whole groups, since a vendor's listings succeed or fail
    together; the small classes (under a hundred test rows) make it wide.
    """
    y_pred = proba.argmax(axis=1)
    everything = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=everything, zero_division=0
    )
    present = [i for i in everything if support[i] > 0]
    per_class = {
        labels.names[i]: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i in everything
    }
    return {
        "rows": len(y_true),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean([f1[i] for i in present])) if present else 0.0,
        "macro_f1_ci95": bootstrap_macro_f1(y_true, y_pred, present, len(labels), groups),
        "macro_f1_classes": [labels.names[i] for i in present],
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=everything).tolist(),
    }


def bootstrap_macro_f1(
    y_true: np.ndarray, y_pred: np.ndarray, present: list[int], n_classes: int,
    groups: np.ndarray | None = None, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
) -> list[float] | None:
    """2.5th and 97.5th percentiles of macro-F1 (over ``present``) on resampled rows or groups.

    Each resample weights rows by how often their group was drawn, so one weighted
    confusion matrix per resample is all it costs.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0 or not present:
        return None
    cell = y_true * n_classes + y_pred
    scores = np.array([_weighted_macro_f1(cell, weight, present, n_classes)
                       for weight in _resample_weights(groups, len(y_true), resamples, seed)])
    return _percentile_interval(scores)


def bootstrap_macro_f1_difference(
    y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, present: list[int],
    n_classes: int, groups: np.ndarray | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
) -> tuple[list[float], float] | None:
    """Paired bootstrap of macro-F1(B) − macro-F1(A) on the same rows.

    Both models are scored on the same resampled vendors in each draw, so the vendor draw
    that moves both figures together (a split's interval is several points wide) cancels
    out of their difference. Returns the 95% interval of the difference and the share of
    draws in which B scores higher.
    """
    y_true = np.asarray(y_true)
    if len(y_true) == 0 or not present:
        return None
    cell_a = y_true * n_classes + np.asarray(pred_a)
    cell_b = y_true * n_classes + np.asarray(pred_b)
    differences = np.array([
        _weighted_macro_f1(cell_b, weight, present, n_classes)
        - _weighted_macro_f1(cell_a, weight, present, n_classes)
        for weight in _resample_weights(groups, len(y_true), resamples, seed)])
    return _percentile_interval(differences), float((differences > 0).mean())


def _resample_weights(groups: np.ndarray | None, n_rows: int, resamples: int,
                      seed: int) -> Iterator[np.ndarray]:
    """Per draw, how many times each row was drawn: whole groups (vendors) when given."""
    if groups is None:
        group_of = np.arange(n_rows)
    else:
        _, group_of = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n_groups = int(group_of.max()) + 1
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        yield np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)[group_of]


def macro_f1_over(y_true: np.ndarray, y_pred: np.ndarray, present: list[int],
                  n_classes: int) -> float:
    """Macro-F1 over the classes ``present`` (0 for a class whose F1 is undefined), from one
    confusion matrix: for searches that score thousands of candidate labellings."""
    return _weighted_macro_f1(np.asarray(y_true) * n_classes + np.asarray(y_pred), None,
                              present, n_classes)


def _weighted_macro_f1(cell: np.ndarray, weight: np.ndarray | None, present: list[int],
                       n_classes: int) -> float:
    """Macro-F1 over ``present`` from (true × n_classes + predicted) cells weighted per row
    (every row once when ``weight`` is None)."""
    cm = np.bincount(cell, weights=weight, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)
    tp = np.diag(cm)[present]
    denominator = cm.sum(axis=0)[present] + cm.sum(axis=1)[present]
    f1 = np.divide(2 * tp, denominator, out=np.zeros(len(present)), where=denominator > 0)
    return float(f1.mean())


def _percentile_interval(values: np.ndarray) -> list[float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def wilson_interval(hits: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a rate of ``hits`` in ``n`` (95% by default).

    Used where a rate rests on a handful of rows (17 lawful knives): the interval says how
    little such a rate proves; 0 of 17 is still compatible with a true rate of 18%.
    """
    if n <= 0:
        raise ValueError(f"a rate needs at least one row, got n={n}")
    if not 0 <= hits <= n:
        raise ValueError(f"hits must be within [0, {n}], got {hits}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rate = hits / n
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def to_ids(names: Any, labels: LabelSet) -> np.ndarray:
    lookup = labels.label2id
    return np.array([lookup[n] for n in names], dtype=np.int64)

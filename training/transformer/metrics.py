"""Scores for choosing and reporting models: macro-F1, per class and per market.

Macro-F1 averages over the classes present in the truth of the split scored: the
out-of-time markets have no benign listings, and a class with no rows has no recall to
average. Listings wrongly put in such a class still count: they lower the recall of the
class they belong to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from model.labels import LabelSet


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    present = np.unique(y_true)
    if len(present) == 0:
        return float("nan")
    return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def split_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: LabelSet,
    markets: Sequence[str] | None = None,
    *,
    min_market_rows: int = 30,
) -> dict[str, Any]:
    """Macro-F1, accuracy, per-class F1 and support, and per-market macro-F1 and accuracy."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    ids = list(range(len(labels)))
    per_class = f1_score(y_true, y_pred, labels=ids, average=None, zero_division=0)
    support = np.bincount(y_true, minlength=len(labels))
    result: dict[str, Any] = {
        "n": len(y_true),
        "macro_f1": round(macro_f1(y_true, y_pred), 5),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 5) if len(y_true) else None,
        "per_class_f1": {
            name: round(float(f), 5)
            for name, f, s in zip(labels.names, per_class, support, strict=True)
            if s > 0
        },
        "support": {name: int(s) for name, s in zip(labels.names, support, strict=True)},
    }
    if markets is not None:
        markets = np.asarray(markets, dtype=object)
        per_market = {}
        for market in sorted(set(markets.tolist()), key=str):
            rows = markets == market
            if rows.sum() < min_market_rows:
                continue
            per_market[str(market)] = {
                "n": int(rows.sum()),
                "macro_f1": round(macro_f1(y_true[rows], y_pred[rows]), 5),
                "accuracy": round(float(accuracy_score(y_true[rows], y_pred[rows])), 5),
            }
        result["per_market"] = per_market
    return result

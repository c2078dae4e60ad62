"""Scores for choosing and reporting models: the shared report metrics plus per market.

Macro-F1 averages over the classes present in the truth of the split scored (the
out-of-time markets have no benign listings), as ``training.metrics`` does for every report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from model.labels import LabelSet
from training.metrics import classification_metrics, groups_of


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the classes present in ``y_true`` (for early stopping and cuts)."""
    present = np.unique(y_true)
    if len(present) == 0:
        return float("nan")
    return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def frame_metrics(frame: pd.DataFrame, y_true: np.ndarray, proba: np.ndarray,
                  labels: LabelSet) -> dict[str, Any]:
    """:func:`split_metrics` for a dataset split: its markets and its vendor groups."""
    return split_metrics(y_true, proba, labels, frame["market"].astype(str).tolist(),
                         groups=groups_of(frame))


def split_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: LabelSet,
    markets: Sequence[str] | None = None,
    *,
    groups: np.ndarray | None = None,
    min_market_rows: int = 30,
) -> dict[str, Any]:
    """:func:`training.metrics.classification_metrics`, plus macro-F1 and accuracy per market.

    ``groups`` (the dataset's vendor groups) make the bootstrap interval resample whole
    vendors, as every other report does; without them it resamples rows and comes out
    too narrow for listings that vendors re-post.
    """
    y_true, proba = np.asarray(y_true), np.asarray(proba)
    result = classification_metrics(y_true, proba, labels, groups)
    if markets is not None:
        y_pred = proba.argmax(axis=1)
        markets = np.asarray(markets, dtype=object)
        per_market = {}
        for market in sorted(set(markets.tolist()), key=str):
            rows = markets == market
            if rows.sum() < min_market_rows:
                continue
            per_market[str(market)] = {
                "rows": int(rows.sum()),
                "macro_f1": round(macro_f1(y_true[rows], y_pred[rows]), 5),
                "accuracy": round(float((y_true[rows] == y_pred[rows]).mean()), 5),
            }
        result["per_market"] = per_market
    return result

"""Small helpers every evaluation-suite section uses: listings from frames, sampling, scoring."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd

from model.labels import LabelSet
from training.baseline import prepared_texts
from training.metrics import classification_metrics, to_ids

EVALUATION_SPLITS = ("validation", "test", "oot", "cross_market")
# the splits made of markets no bundle trained on, which reports also break down per market
OUT_OF_DOMAIN_SPLITS = ("oot", "cross_market")


def listings_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``{"title", "description"}`` dicts for ``Classifier.prepare`` (missing bodies → None)."""
    descriptions = frame["description"] if "description" in frame else [None] * len(frame)
    return [
        {"title": str(t), "description": d if isinstance(d, str) and d else None}
        for t, d in zip(frame["title"], descriptions, strict=True)
    ]


def bundle_texts(classifier: Any, frame: pd.DataFrame) -> list[str]:
    """The model input ``classifier`` is served for these dataset rows.

    The dataset's ``text`` column uses the default description length; a bundle trained with
    another (a title-only transformer reads none) must be scored on its own input.
    """
    return prepared_texts(frame, int(classifier.config["max_description_chars"]))


# (classifier, frame) ids → that frame's probabilities; entries leave with either object
_SPLIT_PROBA: dict[tuple[int, int], np.ndarray] = {}


def split_proba(classifier: Any, frame: pd.DataFrame) -> np.ndarray:
    """``classifier``'s probabilities for every row of ``frame`` (:func:`bundle_texts`),
    computed once per pair: several sections score the same whole splits, and a transformer
    takes minutes per split. The array is read-only; copy it to change it."""
    key = (id(classifier), id(frame))
    proba = _SPLIT_PROBA.get(key)
    if proba is None:
        proba = np.asarray(classifier.predict_proba_texts(bundle_texts(classifier, frame)))
        proba.setflags(write=False)
        _SPLIT_PROBA[key] = proba
        for owner in (classifier, frame):  # ids are reused once an object is gone
            weakref.finalize(owner, _SPLIT_PROBA.pop, key, None)
    return proba


def cap_per_class(frame: pd.DataFrame, per_class: int | None, seed: int,
                  column: str = "label") -> pd.DataFrame:
    """At most ``per_class`` rows of each value of ``column`` (all rows when None)."""
    if per_class is None or frame.empty:
        return frame
    parts = [
        group.sample(min(len(group), per_class), random_state=seed)
        for _, group in frame.groupby(column, sort=True)
    ]
    return pd.concat(parts).sort_index()


def score(y: np.ndarray, proba: np.ndarray, labels: LabelSet) -> dict[str, Any]:
    """``classification_metrics`` without the confusion matrix (kept small for JSON)."""
    metrics = classification_metrics(y, proba, labels)
    metrics.pop("confusion_matrix")
    return metrics


def score_frame(proba: np.ndarray, frame: pd.DataFrame, labels: LabelSet) -> dict[str, Any]:
    return score(to_ids(frame["label"], labels), proba, labels)


def rounded(value: float, digits: int = 4) -> float:
    return float(round(float(value), digits))

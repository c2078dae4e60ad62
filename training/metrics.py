"""Classification metrics, computed the same way for every report."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from model.labels import LabelSet


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: LabelSet
) -> dict[str, Any]:
    """Per-class precision / recall / F1, macro-F1, accuracy and the confusion matrix.

    Macro-F1 averages over the classes present in ``y_true`` (the 2020 markets have no
    weapons and no lawful listings); predictions into absent classes still count against
    the recall of the true class.
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
        "macro_f1_classes": [labels.names[i] for i in present],
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=everything).tolist(),
    }


def to_ids(names: Any, labels: LabelSet) -> np.ndarray:
    lookup = labels.label2id
    return np.array([lookup[n] for n in names], dtype=np.int64)

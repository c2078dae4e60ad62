"""False-positive rate on lawful look-alikes (genuine watches, gift cards, knives, ...).

The groups are defined in :mod:`training.suite.lookalike_groups`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model import Classifier
from model.thresholds import BLOCK, REVIEW
from training.metrics import wilson_interval
from training.suite.common import bundle_texts, rounded
from training.suite.lookalike_groups import DEFAULT_DEFINITION, load_definition


def hard_negative_rows(frames: dict[str, pd.DataFrame], splits: list[str],
                       negative: str) -> pd.DataFrame:
    """Lawful surface-web rows of ``splits`` (one copy of each uid)."""
    missing = [s for s in splits if s not in frames]
    if missing:
        raise ValueError(f"hard negatives need splits {missing}, which were not loaded")
    rows = pd.concat([frames[s] for s in splits], ignore_index=True).drop_duplicates("uid")
    return rows[(rows["kind"] == "surface") & (rows["label"] == negative)].reset_index(drop=True)


def hard_negatives(classifier: Classifier, frames: dict[str, pd.DataFrame],
                   definition: str | Path | None = None) -> dict[str, Any]:
    """Per group: rows, and the share flagged by argmax label and by the bundle's decisions.

    The argmax rate comes with its 95% Wilson interval: several groups have a few dozen rows
    or fewer, and a reader should see how little their rate proves.
    """
    splits, groups = load_definition(definition)
    rows = hard_negative_rows(frames, splits, classifier.labels.negative)
    masks = {g.name: g.mask(rows) for g in groups}
    any_group = np.any(list(masks.values()), axis=0) if masks else np.zeros(len(rows), bool)
    scored = rows[any_group]
    proba = classifier.predict_proba_texts(bundle_texts(classifier, scored))
    decisions = np.asarray(classifier.decide(proba)[0])
    labels = np.asarray(classifier.labels.names)[proba.argmax(axis=1)]
    result = {}
    for group in groups:
        mask = masks[group.name][any_group]
        n = int(mask.sum())
        predicted = pd.Series(labels[mask]).value_counts().to_dict()
        flagged = int(np.sum(labels[mask] != classifier.labels.negative))
        result[group.name] = {
            "looks_like": group.looks_like,
            "rows": n,
            "fp_rate_argmax": rounded(flagged / n) if n else None,
            "fp_argmax": flagged,
            "fp_rate_argmax_interval": [rounded(v) for v in wilson_interval(flagged, n)]
            if n else None,
            "fp_rate_block": rounded(np.mean(decisions[mask] == BLOCK)) if n else None,
            "fp_rate_block_or_review": rounded(np.mean(np.isin(decisions[mask],
                                                               [BLOCK, REVIEW]))) if n else None,
            "predicted": {str(k): int(v) for k, v in predicted.items()},
        }
    return {"splits": splits, "definition": str(Path(definition or DEFAULT_DEFINITION)),
            "groups": result}


def headline(result: dict[str, Any]) -> dict[str, float]:
    out = {}
    for name, g in result.get("groups", {}).items():
        if g["rows"]:
            out[f"hard_negatives.{name}.fp_rate_argmax"] = g["fp_rate_argmax"]
            out[f"hard_negatives.{name}.fp_rate_block_or_review"] = g["fp_rate_block_or_review"]
    return out

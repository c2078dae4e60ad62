"""False-positive rate on lawful look-alikes (genuine watches, gift cards, knives, ...).

The groups are data, not code: ``hard_negatives.toml`` next to this module (or any file
passed as ``definition``) says which rows belong to which group (read by
``training.lookalike_groups``).

Each rate is given three times: as the bundle scores a listing on its own, and as a server
that knows the listing's marketplace's mix scores it, by the label-shift section's two
protocols (``served``: each market of a split served one listing at a time at the mix
estimated from its other half; ``online``: the server's market adaptation, each market's
mix learned from its earlier listings). A lawful shop's server learns that its shop is
lawful, which is what a moderation team running one would want.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model import BundleError, Classifier
from model.priors import BBSE, MIN_GROUP_ROWS, adapter
from model.thresholds import BLOCK, REVIEW
from training.lookalike_groups import (
    DEFAULT_DEFINITION,
    group_membership,
    hard_negative_rows,
    load_definition,
)
from training.metrics import wilson_interval
from training.suite.common import bundle_texts, rounded, split_proba
from training.suite.label_shift import adaptation_record, online_scores, served_scores

PROTOCOLS = ("served", "online")  # how a server that knows the marketplace scores a row


def hard_negatives(classifier: Classifier, frames: dict[str, pd.DataFrame],
                   definition: str | Path | None = None,
                   min_rows: int = MIN_GROUP_ROWS) -> dict[str, Any]:
    """Per group: rows, and the share flagged by argmax label and by the bundle's decisions.

    The argmax rate comes with its 95% Wilson interval: several groups have a few dozen rows
    or fewer, and a reader should see how little their rate proves.
    """
    splits, groups = load_definition(definition)
    rows = hard_negative_rows(frames, splits, classifier.labels.negative)
    masks, any_group = group_membership(rows, groups)
    scored = rows[any_group]
    proba = classifier.predict_proba_texts(bundle_texts(classifier, scored))
    decisions = np.asarray(classifier.decide(proba)[0])
    labels = np.asarray(classifier.labels.names)[proba.argmax(axis=1)]
    served = served_labels(classifier, frames, splits, scored["uid"], min_rows)
    result = {}
    for group in groups:
        mask = masks[group.name][any_group]
        n = int(mask.sum())
        predicted = pd.Series(labels[mask]).value_counts().to_dict()
        flagged = int(np.sum(labels[mask] != classifier.labels.negative))
        served_entry = {}
        for protocol, labels_served in (served or {}).items():
            if not n:
                continue
            hits = int(np.sum(labels_served[mask] != classifier.labels.negative))
            served_entry.update({
                f"fp_{protocol}": hits, f"fp_rate_{protocol}": rounded(hits / n),
                f"fp_rate_{protocol}_interval": [rounded(v) for v in wilson_interval(hits, n)]})
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
            **served_entry,
        }
    return {"splits": splits, "definition": str(Path(definition or DEFAULT_DEFINITION)),
            "served": served is not None, "groups": result}


def served_labels(classifier: Classifier, frames: dict[str, pd.DataFrame], splits: list[str],
                  uids: pd.Series, min_rows: int = MIN_GROUP_ROWS
                  ) -> dict[str, np.ndarray] | None:
    """Per protocol of :data:`PROTOCOLS`, the label each of ``uids`` gets from a server that
    knows its split's market (:func:`training.suite.label_shift.served_scores` and
    :func:`~training.suite.label_shift.online_scores`; a uid in several splits takes its
    first, as :func:`hard_negative_rows` keeps it); None for a bundle that cannot adapt."""
    try:
        record, _ = adaptation_record(classifier, frames)
        adapt = adapter(BBSE, record, classifier.labels.names).adapt
    except (BundleError, KeyError):
        return None
    names = np.asarray(classifier.labels.names)
    by_uid: dict[str, dict[str, str]] = {p: {} for p in PROTOCOLS}
    for split in splits:
        frame = frames[split]
        proba, markets = split_proba(classifier, frame), frame["market"].to_numpy()
        scores = {"served": served_scores(proba, markets, adapt, record, list(names), min_rows),
                  "online": online_scores(proba, markets, record, list(names),
                                          min_rows=min_rows)}
        for protocol in PROTOCOLS:
            for uid, label in zip(frame["uid"], names[scores[protocol].argmax(axis=1)],
                                  strict=True):
                by_uid[protocol].setdefault(uid, label)
    return {p: np.asarray([by_uid[p][u] for u in uids]) for p in PROTOCOLS}


def headline(result: dict[str, Any]) -> dict[str, float]:
    out = {}
    for name, g in result.get("groups", {}).items():
        if g["rows"]:
            out[f"hard_negatives.{name}.fp_rate_argmax"] = g["fp_rate_argmax"]
            out[f"hard_negatives.{name}.fp_rate_block_or_review"] = g["fp_rate_block_or_review"]
            for protocol in PROTOCOLS:
                if f"fp_rate_{protocol}" in g:
                    out[f"hard_negatives.{name}.fp_rate_{protocol}"] = g[f"fp_rate_{protocol}"]
    return out

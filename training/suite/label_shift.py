"""Label-shift adaptation per market: the scores corrected to each market's own class mix.

A scan of one market is a batch: its class mix can be estimated from its own unlabelled
scores and the scores corrected to it (:mod:`model.priors`; ``contraband adapt`` does it to
a scan's output). This section measures what that does on the evaluation splits, grouping
each split's rows by market as a crawl of each market would be. It is a different protocol
from the rest of the suite: every figure here used a whole market's rows (never their
labels) to score each of them, which a one-listing-at-a-time API call cannot do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from model import BundleError, Classifier
from model.priors import MIN_GROUP_ROWS, adapt_groups, prior_vector, source_prior
from training.suite.common import bundle_texts, rounded
from training.suite.crossmarket import market_score

SPLITS = ("test", "oot", "cross_market")


def label_shift(classifier: Classifier, frames: dict[str, pd.DataFrame],
                min_rows: int = MIN_GROUP_ROWS) -> dict[str, Any]:
    """Macro-F1 and lawful false-positive rate before and after per-market adaptation."""
    labels = classifier.labels
    names = list(labels.names)
    try:
        source, origin = classifier.source_prior, "bundle"
    except BundleError:  # a bundle that predates it: the same quantity, computed here
        val = frames["validation"]
        source = prior_vector(source_prior(
            classifier.predict_proba_texts(bundle_texts(classifier, val)), names), names)
        origin = "computed from the validation split (the bundle records none)"
    result: dict[str, Any] = {
        "min_rows": min_rows, "source_prior_origin": origin,
        "source_prior": {n: rounded(p) for n, p in zip(names, source, strict=True)},
    }
    for split in SPLITS:
        frame = frames.get(split)
        if frame is None or frame.empty:
            continue
        proba = classifier.predict_proba_texts(bundle_texts(classifier, frame))
        adapted, fitted = adapt_groups(proba, frame["market"].to_numpy(), source,
                                       min_rows=min_rows)
        markets: dict[str, Any] = {}
        for market, group in fitted.items():
            rows = frame.iloc[group.rows]
            entry: dict[str, Any] = {"rows": len(group.rows),
                                     "before": market_score(proba[group.rows], rows, labels)}
            if group.result is not None:
                entry["estimated_prior"] = {n: rounded(p) for n, p in
                                            zip(names, group.result.prior, strict=True)}
                entry["true_prior"] = {n: rounded(np.mean(rows["label"] == n)) for n in names}
            entry["after"] = market_score(adapted[group.rows], rows, labels)
            markets[market] = entry
        result[split] = {"before": market_score(proba, frame, labels),
                         "after": market_score(adapted, frame, labels), "per_market": markets}
    return result


def headline(result: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for split in SPLITS:
        if split in result:
            out[f"label_shift.{split}.macro_f1_before"] = result[split]["before"]["macro_f1"]
            out[f"label_shift.{split}.macro_f1_adapted"] = result[split]["after"]["macro_f1"]
    for market, entry in result.get("cross_market", {}).get("per_market", {}).items():
        if entry["after"]["benign_fp_rate"] is not None and entry["rows"] >= result["min_rows"]:
            out[f"label_shift.{market}.fp_rate_adapted"] = entry["after"]["benign_fp_rate"]
    return out

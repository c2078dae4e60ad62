"""Title only against title + description, on the sources whose rows have both.

The rows are the ones with a non-empty description in the given frames; both variants are
prepared by the bundle itself (``Classifier.prepare``), so only the input differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from model import Classifier
from training.metrics import to_ids
from training.suite.common import listings_of, rounded, score


def input_ablation(classifier: Classifier, frame: pd.DataFrame,
                   min_rows: int = 20) -> dict[str, Any]:
    labels = classifier.labels
    has_body = frame["description"].fillna("").astype(str).str.strip().str.len() > 0
    rows = frame[has_body]
    if rows.empty:
        return {"rows": 0, "sources": {}}
    listings = listings_of(rows)
    y = to_ids(rows["label"], labels)
    full = classifier.predict_proba(listings)
    title = classifier.predict_proba([{"title": x["title"]} for x in listings])
    overall_full, overall_title = score(y, full, labels), score(y, title, labels)
    sources = {}
    for source in sorted(rows["source"].unique()):
        mask = (rows["source"] == source).to_numpy()
        if mask.sum() < min_rows:
            continue
        sources[str(source)] = {
            "rows": int(mask.sum()),
            "labels": sorted(rows.loc[mask, "label"].unique().tolist()),
            "accuracy_title": rounded(np.mean(title[mask].argmax(1) == y[mask])),
            "accuracy_title_description": rounded(np.mean(full[mask].argmax(1) == y[mask])),
        }
    return {
        "rows": len(rows),
        "macro_f1_title": rounded(overall_title["macro_f1"]),
        "macro_f1_title_description": rounded(overall_full["macro_f1"]),
        "per_class_f1": {
            n: {"title": rounded(overall_title["per_class"][n]["f1"]),
                "title_description": rounded(c["f1"]), "support": c["support"]}
            for n, c in overall_full["per_class"].items() if c["support"]
        },
        "sources": sources,
    }


def headline(result: dict[str, Any]) -> dict[str, float]:
    if not result.get("rows"):
        return {}
    return {"ablation.macro_f1_title": result["macro_f1_title"],
            "ablation.macro_f1_title_description": result["macro_f1_title_description"]}

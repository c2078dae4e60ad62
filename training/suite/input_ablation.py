"""What of each listing a bundle reads, and what the description is worth to it.

- :func:`input_ablation`: title only against title + description, on the rows with a
  non-empty description; both variants are prepared by the bundle itself
  (``Classifier.prepare``), so only the input differs.
- :func:`input_read`: per split (and per market of the out-of-domain splits), the share of
  rows whose description is longer than the characters the bundle reads
  (``max_description_chars``) and, for a bundle with a token limit (a transformer, or a
  cascade's transformer part), whose prepared text runs past it. It answers whether
  truncation can explain a model's figures on a split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from model import Classifier
from training.metrics import to_ids
from training.suite.common import (
    EVALUATION_SPLITS,
    OUT_OF_DOMAIN_SPLITS,
    bundle_texts,
    listings_of,
    rounded,
    score,
)


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


def token_limited_part(model: Any) -> Any | None:
    """The part of ``model`` that reads a limited number of tokens (it has ``truncated``):
    the model itself, a cascade's slow part, or None."""
    for part in (model, getattr(model, "slow", None)):
        if part is not None and callable(getattr(part, "truncated", None)):
            return part
    return None


def _cut_shares(description_cut: np.ndarray, tokens_cut: np.ndarray | None) -> dict[str, Any]:
    return {"rows": len(description_cut),
            "description_cut_share": rounded(np.mean(description_cut)),
            "tokens_cut_share": None if tokens_cut is None else rounded(np.mean(tokens_cut))}


def input_read(classifier: Classifier, frames: dict[str, pd.DataFrame],
               splits: tuple[str, ...] = EVALUATION_SPLITS) -> dict[str, Any]:
    """How much of each split's listings the bundle reads (see the module's docstring)."""
    description_chars = int(classifier.config["max_description_chars"])
    reader = token_limited_part(classifier.model)
    result: dict[str, Any] = {
        "max_description_chars": description_chars,
        "max_tokens": None if reader is None else int(reader.max_length),
        "splits": {},
    }
    for split in splits:
        frame = frames.get(split)
        if frame is None or frame.empty:
            continue
        lengths = frame["description"].fillna("").astype(str).str.strip().str.len()
        description_cut = lengths.to_numpy() > description_chars
        tokens_cut = (None if reader is None
                      else reader.truncated(bundle_texts(classifier, frame)))
        entry = _cut_shares(description_cut, tokens_cut)
        if split in OUT_OF_DOMAIN_SPLITS and "market" in frame.columns:
            markets = frame["market"].astype(str).to_numpy()
            entry["per_market"] = {
                str(m): _cut_shares(description_cut[markets == m],
                                    None if tokens_cut is None else tokens_cut[markets == m])
                for m in sorted(set(markets))}
        result["splits"][split] = entry
    return result


def headline(result: dict[str, Any]) -> dict[str, float]:
    figures: dict[str, float] = {}
    if result.get("rows"):
        figures = {"ablation.macro_f1_title": result["macro_f1_title"],
                   "ablation.macro_f1_title_description": result["macro_f1_title_description"]}
    for split, entry in result.get("input_read", {}).get("splits", {}).items():
        if entry["tokens_cut_share"] is not None:
            figures[f"ablation.tokens_cut_share.{split}"] = entry["tokens_cut_share"]
    return figures

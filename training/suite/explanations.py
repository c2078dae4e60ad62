"""Word contributions as coloured text: red pushed towards the class, blue away from it.

The contributions come from ``model.explain.explain``, the code the HTTP API's
``explain=true`` and ``contraband explain`` use, so the report shows what moderators see.
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import pandas as pd

from model import Classifier
from model.explain import explain
from training.suite.common import bundle_texts, listings_of

_TOKENS = re.compile(r"\S+|\s+")


def coloured_html(text: str, weights: dict[str, float]) -> str:
    """``text`` as HTML spans, each word shaded by its weight (scaled to the largest)."""
    scale = max((abs(w) for w in weights.values()), default=0.0) or 1.0
    parts = []
    for token in _TOKENS.findall(text):
        if token.isspace():
            parts.append(" ")
            continue
        weight = weights.get(token)
        if weight is None:
            parts.append(html.escape(token))
            continue
        alpha = min(abs(weight) / scale, 1.0) * 0.85
        colour = f"rgba(214,39,40,{alpha:.2f})" if weight > 0 else f"rgba(31,119,180,{alpha:.2f})"
        parts.append(f'<span style="background:{colour}" title="{weight:+.3f}">'
                     f"{html.escape(token)}</span>")
    return "".join(parts)


def explain_rows(classifier: Classifier, listings: list[dict[str, Any]], *, top_k: int = 40,
                 time_budget_s: float = 5.0) -> list[dict[str, Any]]:
    """One explanation per listing for its predicted class, with its coloured HTML."""
    out = []
    texts = classifier.prepare(listings)
    proba = classifier.predict_proba_texts(texts)
    for listing, text, row in zip(listings, texts, proba, strict=True):
        predicted = classifier.labels.names[int(np.argmax(row))]
        result = explain(classifier, listing, top_k=top_k, time_budget_s=time_budget_s,
                         class_name=predicted)
        out.append({
            "predicted": predicted,
            "score": float(row.max()),
            "status": result.status,
            "detail": result.detail,
            "words": result.words,
            "unit": result.unit,
            "html": coloured_html(text, dict(result.words)) if result.words
            else html.escape(text),
        })
    return out


def explanation_examples(classifier: Classifier, frame: pd.DataFrame, *, per_class: int = 2,
                         errors: int = 4, seed: int = 0) -> dict[str, Any]:
    """Explain a few correct rows per class and a few of the errors of ``frame``."""
    labels = classifier.labels
    proba = classifier.predict_proba_texts(bundle_texts(classifier, frame))
    predicted = np.asarray(labels.names)[proba.argmax(axis=1)]
    truth = frame["label"].to_numpy()
    rng = np.random.default_rng(seed)
    chosen: list[tuple[int, str]] = []
    for name in labels.names:
        idx = np.flatnonzero((truth == name) & (predicted == name))
        chosen += [(int(i), "correct") for i in rng.permutation(idx)[:per_class]]
    wrong = np.flatnonzero(truth != predicted)
    chosen += [(int(i), "error") for i in rng.permutation(wrong)[:errors]]
    rows = frame.iloc[[i for i, _ in chosen]]
    explained = explain_rows(classifier, listings_of(rows))
    for item, (i, kind), label in zip(explained, chosen, rows["label"], strict=True):
        item.update(true_label=str(label), kind=kind, row=i)
    return {"examples": explained}

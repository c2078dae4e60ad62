"""Word contributions as coloured text: red pushed towards the class, blue away from it.

The contributions come from ``model.explain.explain``, the code the HTTP API's
``explain=true`` and ``contraband explain`` use, so the report shows what moderators see.

:func:`faithfulness` checks that they name the words a prediction rests on, by the ERASER
measures (DeYoung et al., ACL 2020): take the explanation's top words out and the score of
the predicted class should fall (comprehensiveness), further than when as many random
words of the listing are taken out; keep only those words and it should hold
(sufficiency: a small drop).
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import pandas as pd

from model import Classifier
from model.explain import explain, supports_explanations
from training.suite.common import bundle_texts, listings_of, rounded

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


FAITHFULNESS_ROWS = 300
FAITHFULNESS_K = (1, 3)


def _kept(words: list[str], keep: set[str], inside: bool) -> str:
    """The words of ``words`` that are (``inside``) or are not in ``keep``, in order."""
    return " ".join(w for w in words if (w in keep) == inside)


def faithfulness(classifier: Classifier, frame: pd.DataFrame, *, rows: int = FAITHFULNESS_ROWS,
                 ks: tuple[int, ...] = FAITHFULNESS_K, seed: int = 0) -> dict[str, Any]:
    """Comprehensiveness, sufficiency and label flips of the explanations, per top-k, over
    all the rows (``k``) and over those predicted illicit (``k_illicit``).

    On ``rows`` seeded rows of ``frame``, each explained for its predicted class: the top k
    words are the k that pushed that class's score up most (fewer where fewer did; every
    occurrence of a word goes, as its weight sums them). Each figure is a mean over the rows
    of the predicted class's probability on the listing minus on the changed text. The
    random reference takes k words of those the model reads, drawn with ``seed``.
    """
    if not supports_explanations(classifier):
        return {"status": "unsupported"}
    rng = np.random.default_rng(seed)
    sample = frame.iloc[rng.permutation(len(frame))[:rows]]
    texts = bundle_texts(classifier, sample)
    proba = classifier.predict_proba_texts(texts)
    predicted = proba.argmax(axis=1)
    variants: list[str] = []
    for text, class_id in zip(texts, predicted, strict=True):
        ranked = classifier.model.token_contributions(text, int(class_id))
        pushing = [w for w, weight in sorted(ranked, key=lambda kv: -kv[1]) if weight > 0]
        readable = [w for w, _ in ranked]
        words = text.split()
        for k in ks:
            top = set(pushing[:k])
            drawn = set(rng.permutation(readable)[:k].tolist()) if readable else set()
            variants += [_kept(words, top, False), _kept(words, drawn, False),
                         _kept(words, top, True)]
    changed = classifier.predict_proba_texts(variants).reshape(len(texts), len(ks), 3, -1)
    own = proba[np.arange(len(texts)), predicted]
    illicit = predicted != classifier.labels.index(classifier.labels.negative)
    result: dict[str, Any] = {"rows": len(texts), "illicit_rows": int(illicit.sum()),
                              "seed": seed, "k": {}, "k_illicit": {}}
    for j, k in enumerate(ks):
        drop = own[:, None] - changed[np.arange(len(texts)), j, :, predicted]  # (rows, 3)
        flipped = changed[:, j].argmax(axis=2) != predicted[:, None]
        for key, rows_in in (("k", slice(None)), ("k_illicit", illicit)):
            if not len(drop[rows_in]):
                continue
            mean_drop, flips = drop[rows_in].mean(axis=0), flipped[rows_in].mean(axis=0)
            result[key][str(k)] = {
                "comprehensiveness": rounded(mean_drop[0]),
                "random_comprehensiveness": rounded(mean_drop[1]),
                "sufficiency": rounded(mean_drop[2]),
                "flips": rounded(flips[0]),
                "random_flips": rounded(flips[1]),
            }
    return result


def headline(result: dict[str, Any]) -> dict[str, float]:
    """Comprehensiveness (and its random reference) and sufficiency for every k."""
    out = {}
    for k, figures in result.get("faithfulness", {}).get("k", {}).items():
        for name in ("comprehensiveness", "random_comprehensiveness", "sufficiency"):
            out[f"explanations.{name}_top{k}"] = figures[name]
    return out


def explanation_examples(classifier: Classifier, frame: pd.DataFrame, *, per_class: int = 2,
                         errors: int = 4, seed: int = 0) -> dict[str, Any]:
    """Explain a few correct rows per class and a few of the errors of ``frame``, and
    measure how faithful the explanations are (:func:`faithfulness`)."""
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
    return {"examples": explained, "faithfulness": faithfulness(classifier, frame, seed=seed)}

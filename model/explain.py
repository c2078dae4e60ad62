"""Which words pushed a listing's score: one helper shared by the HTTP API and the CLI.

    result = explain(clf, "Glock 19 with 2 mags", top_k=5, time_budget_s=0.2)
    result.class_name, result.words   # "weapons", [("Glock", 0.91), ("mags", 0.40), ...]

Model kinds with a ``token_contributions(text, class_id)`` method can be explained (every
kind this package ships: word occlusion, ``model.occlusion``); for any other the result says
so (``status="unsupported"``) instead of failing. ``unit`` says what a weight measures: the
baseline's class margin, or the log-odds of the transformer's or the cascade's score.
The work runs on a small worker pool and is waited for at most ``time_budget_s``: a slow
explanation comes back as ``status="timeout"`` and never holds up the caller longer.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OK, UNSUPPORTED, TIMEOUT, SKIPPED = "ok", "unsupported", "timeout", "skipped"

# Explanations are short CPU jobs; two threads let one overrun (abandoned after its budget)
# without blocking the next caller. Daemon-like shutdown: do not wait for abandoned work.
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="explain")
atexit.register(_POOL.shutdown, wait=False, cancel_futures=True)


@dataclass
class Explanation:
    """The words that moved ``class_name``'s score, strongest first (signed weights)."""

    class_name: str
    words: list[tuple[str, float]] = field(default_factory=list)
    status: str = OK
    detail: str = ""
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "class_name": self.class_name,
            "words": [{"word": w, "weight": weight} for w, weight in self.words],
            "status": self.status,
            "detail": self.detail,
            "unit": self.unit,
        }


def supports_explanations(classifier: Any) -> bool:
    return callable(getattr(classifier.model, "token_contributions", None))


def explain(
    classifier: Any,
    listing: str | Mapping[str, Any] | Any,
    top_k: int = 10,
    time_budget_s: float = 0.5,
    *,
    class_name: str | None = None,
) -> Explanation:
    """Explain ``classifier``'s score for ``listing`` (a str, ``Listing`` or dict).

    ``class_name`` defaults to the predicted class. ``top_k`` words with the largest absolute
    contribution are returned; a non-positive or non-finite budget means "no time": the
    explanation is reported as skipped without computing anything.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    [text] = classifier.prepare([listing])
    if class_name is None:
        proba = classifier.predict_proba_texts([text])[0]
        class_name = classifier.labels.names[int(np.argmax(proba))]
    class_id = classifier.labels.index(class_name)
    kind = classifier.config.get("kind", type(classifier.model).__name__)
    if not supports_explanations(classifier):
        return Explanation(class_name, status=UNSUPPORTED,
                           detail=f"the {kind} model kind has no word-level explanations")
    if not math.isfinite(time_budget_s) or time_budget_s <= 0:
        return Explanation(class_name, status=SKIPPED, detail="no time budget left")
    future = _POOL.submit(classifier.model.token_contributions, text, class_id)
    try:
        contributions = future.result(timeout=time_budget_s)
    except concurrent.futures.TimeoutError:
        future.cancel()
        return Explanation(class_name, status=TIMEOUT,
                           detail=f"not computed within the {time_budget_s:.3f} s budget")
    words = [(str(w), float(v)) for w, v in contributions[:top_k]]
    return Explanation(class_name, words=words,
                       unit=str(getattr(classifier.model, "contribution_unit", "")))

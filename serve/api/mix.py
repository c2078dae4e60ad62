"""The class mix of the marketplace being served, estimated from the listings it scores.

``contraband adapt`` estimates a market's mix from a finished scan; a server scoring one
marketplace's listings one request at a time sees the same evidence, spread over time. The
monitor keeps the predicted labels (at the training mix, target prior taken out) of the last
``mix_window`` listings this process scored and estimates the mix from them by BBSE
(:mod:`model.priors`) on request: what ``GET /v1/mix`` answers, with the interval and the
``--target-prior`` setting that would serve that mix.

Predicted labels only, never text, so the window holds no listing data. Each process (each
uvicorn worker) has its own window, and a new model starts a new one: its confusion matrix
is the one the labels must be read against.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from model import BundleError, Classifier
from model.priors import BBSE, adapter, named_intervals, named_shares, prior_spec


@dataclass(frozen=True)
class MixWindow:
    """The labels of the listings in the window (oldest first) and the model that gave them."""

    model_version: str | None
    labels: np.ndarray
    seen: int  # every listing observed for this model, in the window or gone from it


class MixMonitor:
    """A ring buffer of the last ``window`` predicted class ids; thread-safe (the inference
    threads write, request handlers read)."""

    def __init__(self, window: int) -> None:
        if window < 0:
            raise ValueError(f"window must be >= 0, got {window}")
        self.window = window
        self._labels = np.zeros(window, dtype=np.int8)
        self._size = 0
        self._next = 0
        self._seen = 0
        self._version: str | None = None
        self._lock = threading.Lock()

    def observe(self, model_version: str, labels: np.ndarray) -> None:
        """Add the predicted class ids of one batch, scored by ``model_version``."""
        if self.window == 0:
            return
        labels = np.asarray(labels, dtype=np.int8)[-self.window:]
        with self._lock:
            if model_version != self._version:  # a new model: its labels start a new window
                self._version, self._size, self._next, self._seen = model_version, 0, 0, 0
            self._seen += len(labels)
            positions = (self._next + np.arange(len(labels))) % self.window
            self._labels[positions] = labels
            self._next = int((self._next + len(labels)) % self.window)
            self._size = min(self.window, self._size + len(labels))

    def snapshot(self) -> MixWindow:
        with self._lock:
            # the oldest label sits _size places behind the next write (fancy indexing copies)
            order = (self._next - self._size + np.arange(self._size)) % max(self.window, 1)
            return MixWindow(self._version, self._labels[order], self._seen)


def estimate_mix(clf: Classifier, window: MixWindow, min_rows: int) -> dict[str, Any]:
    """``GET /v1/mix``'s answer for the served model ``clf`` and the monitor's ``window``:
    the BBSE estimate and its 95% interval where the window holds at least ``min_rows`` of
    ``clf``'s labels, else why not (in ``detail``)."""
    names = list(clf.labels.names)
    current = window.model_version == clf.version
    labels = window.labels if current else window.labels[:0]
    answer: dict[str, Any] = {
        "model_version": clf.version, "listings": len(labels),
        "seen": window.seen if current else 0, "min_rows": min_rows, "method": BBSE,
        "estimated_mix": None, "interval": None, "interval_covers": None,
        "suggested_target_prior": None,
        "target_prior": clf.target_prior_by_class(),
    }
    try:
        estimator = adapter(BBSE, clf.config, names)
    except BundleError as exc:
        return {**answer, "detail": str(exc)}
    if len(labels) < min_rows:
        scored = f"{len(labels)} listing{'' if len(labels) == 1 else 's'}"
        return {**answer, "detail": f"{scored} scored by {clf.version} in this process's "
                f"window; an estimate needs at least {min_rows}"}
    one_hot = np.eye(len(names))[labels]
    fitted = estimator.adapt(one_hot)
    mix = named_shares(fitted.prior, names)
    low, high = estimator.interval(one_hot)
    return {
        **answer, "estimated_mix": mix,
        "interval": named_intervals(low, high, names),
        "interval_covers": estimator.interval_covers,
        "suggested_target_prior": prior_spec(mix),
        "detail": ("the mix of the last listings this process scored, read against the "
                   "bundle's validation confusion matrix; it assumes the model errs on them "
                   "as on validation's listings, which text unlike the training data's breaks "
                   "(the suite's label-shift section measures how often)"),
    }


def served_mix(clf: Classifier, monitor: MixMonitor, min_rows: int) -> dict[str, Any]:
    """:func:`estimate_mix` for the monitor's current window (what ``GET /v1/mix`` answers
    and ``/metrics`` exports)."""
    answer = estimate_mix(clf, monitor.snapshot(), min_rows)
    if monitor.window == 0:
        answer["detail"] = "the window is off (mix_window = 0)"
    return answer

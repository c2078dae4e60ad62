"""The class mix of the marketplaces being served, estimated from the listings scored.

``contraband adapt`` estimates a market's mix from a finished scan; a server scoring a
marketplace's listings one request at a time sees the same evidence, spread over time.
:class:`model.market_mix.MarketMixes` keeps the predicted labels (at the training mix,
target prior taken out) of the last ``mix_window`` listings of each marketplace named in
the requests, and of all listings together; ``GET /v1/mix`` estimates a mix from them by
BBSE (:mod:`model.priors`), with the interval and the ``--target-prior`` setting that would
serve it. Where ``market_adaptation`` is on, the same windows also correct the scores of a
named marketplace's next listings (the server does it itself; see ``model.market_mix``).

Predicted labels only, never text, so the windows hold no listing data. Each process (each
uvicorn worker) has its own windows, and a new model starts new ones: its confusion matrix
is the one the labels must be read against.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model import BundleError, Classifier
from model.market_mix import MarketMixes
from model.priors import BBSE, adapter, named_intervals, named_shares, prior_spec


def estimate_mix(clf: Classifier, labels: np.ndarray, seen: int, min_rows: int,
                 market: str | None = None) -> dict[str, Any]:
    """``GET /v1/mix``'s answer for the served model ``clf`` and the ``labels`` it gave the
    listings in a window (``seen``: all it was sent, in the window or gone from it): the
    BBSE estimate and its 95% interval where the window holds at least ``min_rows``, else
    why not (in ``detail``)."""
    names = list(clf.labels.names)
    answer: dict[str, Any] = {
        "model_version": clf.version, "market": market, "listings": len(labels),
        "seen": seen, "min_rows": min_rows, "method": BBSE,
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
        of = "" if market is None else f" of market {market!r}"
        return {**answer, "detail": f"{scored}{of} scored by {clf.version} in this process's "
                f"window; an estimate needs at least {min_rows}"}
    shares = np.bincount(labels, minlength=len(names)) / len(labels)
    mix = named_shares(estimator.mix_from_shares(shares), names)
    low, high = estimator.interval(np.eye(len(names))[labels])
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


def served_mix(clf: Classifier, mixes: MarketMixes, min_rows: int,
               market: str | None = None) -> dict[str, Any]:
    """:func:`estimate_mix` for one marketplace's window of ``mixes`` (None: every listing
    scored), what ``GET /v1/mix`` answers and ``/metrics`` exports."""
    labels, seen = mixes.window(market)
    answer = estimate_mix(clf, labels, seen, min_rows, market)
    if mixes.window_size == 0:
        answer["detail"] = "the window is off (mix_window = 0)"
    return answer

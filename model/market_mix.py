"""Each marketplace's class mix, learned online from the listings scored, and applied to the
next ones.

One listing at a time, a model cannot know that a classifieds site is nearly all lawful or
a darknet shop nearly all drugs, and its scores are calibrated to the training data's mix
(about half drugs). A server that is told which marketplace each listing comes from can
learn that marketplace's mix from the labels it gave the marketplace's earlier listings (BBSE
against the bundle's validation confusion matrix, :mod:`model.priors`) and correct each new
listing's scores to it, as ``--target-prior`` does for a server set by hand. Nothing but
the marketplace's name is needed: no operator, no sample scanned beforehand.

The estimate only ever reads *earlier* listings: a batch is corrected with the estimate
made before it, and its labels join the window afterwards. A marketplace's listings are
scored at the training mix (or the server's target prior) until ``min_rows`` of them have
been seen; after that its estimate is renewed every ``refresh`` listings, from the last
``window``. The labels kept are the ones at the training mix (what the confusion matrix was
counted at), so a correction never feeds back into the next estimate. Only predicted class
ids are kept, never text.

What it assumes (and the evaluation suite's label-shift section measures, as
``after_online``): that the model errs on a marketplace's listings of each class as it does
on validation's. What it costs: a marketplace that posts enough lawful-looking listings
pulls its own estimate towards lawful, so a client should name marketplaces it trusts the
traffic of (its own site, a crawl), not a key an outsider chooses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model.bundle import BundleError
from model.priors import BBSE, adapter, reweighted, served_weights

DEFAULT_WINDOW = 10_000
DEFAULT_MIN_ROWS = 200
DEFAULT_REFRESH = 100
DEFAULT_MAX_MARKETS = 1_000


class LabelWindow:
    """The last ``size`` predicted class ids (of ``n_classes``), oldest first, in a ring
    buffer, with the count of each class held kept up to date (an estimate reads the
    counts, not the window). Not thread-safe: :class:`MarketMixes` holds the lock."""

    def __init__(self, size: int, n_classes: int) -> None:
        if size < 0:
            raise ValueError(f"window must be >= 0, got {size}")
        self.size = size
        self._labels = np.zeros(size, dtype=np.int8)
        self._held = 0
        self._next = 0
        self.seen = 0  # every label added, in the window or gone from it
        self.counts = np.zeros(n_classes, dtype=np.int64)

    def add(self, labels: np.ndarray) -> None:
        self.seen += len(labels)
        if self.size == 0:
            return
        labels = np.asarray(labels, dtype=np.int8)[-self.size:]
        positions = (self._next + np.arange(len(labels))) % self.size
        # the slots past the held labels are empty; the rest overwrite the oldest labels
        overwritten = self._labels[positions[self.size - self._held:]]
        self.counts -= np.bincount(overwritten, minlength=len(self.counts))
        self.counts += np.bincount(labels, minlength=len(self.counts))
        self._labels[positions] = labels
        self._next = int((self._next + len(labels)) % self.size)
        self._held = min(self.size, self._held + len(labels))

    def labels(self) -> np.ndarray:
        """The labels held, oldest first (a copy)."""
        # the oldest label sits _held places behind the next write (fancy indexing copies)
        order = (self._next - self._held + np.arange(self._held)) % max(self.size, 1)
        return self._labels[order]

    def __len__(self) -> int:
        return self._held


@dataclass(frozen=True)
class MarketMix:
    """The mix a listing's scores were corrected to: its marketplace's estimate, made from
    ``listings`` of that marketplace's earlier listings."""

    market: str
    listings: int
    weights: np.ndarray  # target mix / training mix, per class


class _Market:
    def __init__(self, window: int, n_classes: int) -> None:
        self.window = LabelWindow(window, n_classes)
        self.mix: MarketMix | None = None
        self.since_estimate = 0


class MarketMixes:
    """Per-marketplace windows of predicted labels, and the class mix estimated from each.

    ``config`` is the bundle's (it must record ``source_prior`` and
    ``validation_confusion``; a bundle that does not gets windows and no corrections, and
    :attr:`unavailable` says why). The listings of every marketplace together also fill one
    overall window (``window(None)``), which is what ``GET /v1/mix`` reads without a market.
    At most ``max_markets`` marketplaces are kept; the one used least recently is dropped.
    Thread-safe.
    """

    def __init__(self, config: Mapping, names: Sequence[str], *,
                 window: int = DEFAULT_WINDOW, min_rows: int = DEFAULT_MIN_ROWS,
                 refresh: int = DEFAULT_REFRESH, max_markets: int = DEFAULT_MAX_MARKETS,
                 correct: bool = True) -> None:
        for name, value, least in (("window", window, 0), ("min_rows", min_rows, 1),
                                   ("refresh", refresh, 1), ("max_markets", max_markets, 0)):
            if value < least:
                raise ValueError(f"{name} must be >= {least}, got {value}")
        self.names = list(names)
        self.config = config
        self.window_size, self.min_rows = window, min_rows
        self.refresh, self.max_markets = refresh, max_markets
        self.correcting = correct and window >= min_rows
        self.unavailable: str | None = None
        try:
            self._estimate = adapter(BBSE, config, self.names).mix_from_shares
        except BundleError as exc:
            self._estimate, self.unavailable = None, str(exc)
            self.correcting = False
        self._all = LabelWindow(window, len(self.names))
        self._markets: OrderedDict[str, _Market] = OrderedDict()
        self._lock = threading.Lock()

    def serve(self, markets: Sequence[str | None], proba: np.ndarray,
              otherwise: np.ndarray | None = None) -> tuple[np.ndarray, list[MarketMix | None]]:
        """Scores for one batch, then its labels into the windows (under one lock).

        ``proba`` are the batch's scores at the training mix, ``markets`` each listing's
        marketplace (None: not named). A listing whose marketplace has an estimate gets
        ``proba`` corrected to it; the others keep their row of ``otherwise`` (default
        ``proba``: the server's target prior, where one is set). Returns the scores and, per
        listing, the :class:`MarketMix` used (None where none was).
        """
        proba = np.asarray(proba, dtype=np.float64)
        if len(markets) != len(proba):
            raise ValueError(f"{len(markets)} markets for {len(proba)} rows of scores")
        served = np.array(proba if otherwise is None else otherwise, dtype=np.float64)
        used: list[MarketMix | None] = [None] * len(proba)
        labels = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=np.int64)
        with self._lock:
            for market, rows in _rows_by_market(markets).items():
                state = self._market(market)
                mix = state.mix if self.correcting else None
                if mix is not None:
                    served[rows] = reweighted(proba[rows], mix.weights)
                    for row in rows:
                        used[row] = mix
                self._observe(market, state, labels[rows])
            self._all.add(labels)
        return served, used

    def window(self, market: str | None) -> tuple[np.ndarray, int]:
        """A marketplace's labels held (oldest first) and how many it has sent in all; None
        for every listing scored. A marketplace never seen (or dropped) has none."""
        with self._lock:
            if market is None:
                return self._all.labels(), self._all.seen
            state = self._markets.get(market)
            return (np.zeros(0, dtype=np.int8), 0) if state is None else (
                state.window.labels(), state.window.seen)

    def markets(self) -> list[str]:
        """The marketplaces held, least recently used first."""
        with self._lock:
            return list(self._markets)

    def held(self) -> int:
        """How many marketplaces' windows are kept."""
        return len(self._markets)

    def _market(self, market: str) -> _Market:
        state = self._markets.get(market)
        if state is None:
            state = self._markets[market] = _Market(self.window_size, len(self.names))
            while len(self._markets) > self.max_markets:
                self._markets.popitem(last=False)
        else:
            self._markets.move_to_end(market)
        return state

    def _observe(self, market: str, state: _Market, labels: np.ndarray) -> None:
        state.window.add(labels)
        state.since_estimate += len(labels)
        held = len(state.window)
        if not self.correcting or held < self.min_rows:
            return
        if state.mix is None or state.since_estimate >= self.refresh:
            weights = served_weights(self._estimate(state.window.counts / held), self.config,
                                     self.names)
            state.mix = MarketMix(market, held, weights)
            state.since_estimate = 0


def _rows_by_market(markets: Sequence[str | None]) -> dict[str, np.ndarray]:
    """Row indices of each named marketplace, in first-seen order (unnamed rows left out)."""
    rows: dict[str, list[int]] = {}
    for i, market in enumerate(markets):
        if market is not None:
            rows.setdefault(market, []).append(i)
    return {market: np.asarray(idx) for market, idx in rows.items()}

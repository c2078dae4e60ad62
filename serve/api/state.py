"""The served model: loaded off the event loop, swapped atomically on reload.

Request handlers and batches read ``state.classifier`` once and keep that reference, so a
reload never changes the model under a request in flight: old requests finish on the old
bundle, new ones start on the new one. A bundle that fails to load leaves the old one
serving, and the failure is reported.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from model import Classifier, Listing
from model.market_mix import MarketMixes
from serve.api.metrics import Metrics
from serve.api.overrides import ThresholdOverrides
from serve.api.settings import Settings

log = logging.getLogger("contraband.api")
_OVERRIDE_CHECK_S = 1.0  # how often batches look for threshold changes from other workers


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    version: str | None
    previous: str | None
    error: str | None = None
    seconds: float = 0.0


class ModelState:
    def __init__(self, settings: Settings, metrics: Metrics, overrides: ThresholdOverrides,
                 classifier: Classifier | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.overrides = overrides
        self.classifier: Classifier | None = None
        self.load_error: str | None = None
        self.loaded_at: float | None = None
        self.overrides_error: str | None = None
        self._reload_lock = asyncio.Lock()
        self._override_stamp: int | None = None
        self._override_checked = 0.0
        self._recent: dict[str, Classifier] = {}  # the current and the previous model
        self._mixes: dict[str, MarketMixes] = {}  # each recent model's marketplace windows
        if classifier is not None:
            self._prepare(classifier)
            self._install(classifier)

    # -- loading -----------------------------------------------------------------------
    def _load_blocking(self) -> Classifier:
        clf = Classifier.load(self.settings.model, self.settings.models_dir)
        self._prepare(clf)
        return clf

    def _prepare(self, clf: Classifier) -> None:
        """The configured target prior (a bad one fails the load: scores silently left at
        the training mix would mislead) and the stored thresholds."""
        if self.settings.target_prior:
            clf.set_target_prior(self.settings.target_prior)
        self._apply_overrides(clf)

    def _apply_overrides(self, clf: Classifier) -> None:
        """Apply the stored thresholds for ``clf.version``; a bad entry is reported, not fatal."""
        self._override_stamp = self.overrides.stamp()
        try:
            # no entry (none stored, or removed from the file): the bundle's own thresholds
            clf.set_thresholds(self.overrides.get(clf.version) or {})
            self.overrides_error = None
        except (ValueError, KeyError, TypeError) as exc:
            self.overrides_error = f"threshold overrides for {clf.version} ignored: {exc}"
            log.warning(self.overrides_error)

    def _new_mixes(self, clf: Classifier) -> MarketMixes:
        """Fresh windows for ``clf``: labels are read against its own confusion matrix."""
        s = self.settings
        mixes = MarketMixes(clf.config, clf.labels.names, window=s.mix_window,
                            min_rows=s.mix_min_rows, refresh=s.mix_refresh,
                            max_markets=s.max_markets, correct=s.market_adaptation)
        if s.market_adaptation and mixes.unavailable:
            log.warning("listings that name their market keep the training mix",
                        extra={"version": clf.version, "reason": mixes.unavailable})
        return mixes

    def _install(self, clf: Classifier) -> None:
        recent = {self.classifier.version: self.classifier} if self.classifier else {}
        recent[clf.version] = clf
        mixes = {v: self._mixes[v] for v in recent if v in self._mixes and v != clf.version}
        mixes[clf.version] = self._new_mixes(clf)
        self._mixes = mixes  # before the swap: a batch on the new model finds its windows
        self._recent = recent
        self.classifier = clf  # one reference assignment: the atomic swap
        self.loaded_at = time.time()
        self.load_error = None
        self.metrics.set_model(clf.version, str(clf.config.get("kind", "unknown")))

    async def reload(self) -> ReloadResult:
        """Load the configured bundle again; on failure keep serving the current one."""
        async with self._reload_lock:
            previous = self.classifier.version if self.classifier else None
            started = time.perf_counter()
            try:
                clf = await asyncio.get_running_loop().run_in_executor(None, self._load_blocking)
            except Exception as exc:  # any failure must leave the old model serving
                seconds = time.perf_counter() - started
                self.load_error = f"{type(exc).__name__}: {exc}"
                self.metrics.reloads.labels(outcome="failed").inc()
                log.error("model load failed; still serving the previous model",
                          extra={"error": self.load_error, "serving": previous})
                return ReloadResult(False, previous, previous, self.load_error, seconds)
            self._install(clf)
            self.metrics.reloads.labels(outcome="ok").inc()
            seconds = time.perf_counter() - started
            log.info("model loaded", extra={"version": clf.version, "previous": previous,
                                             "path": str(clf.path), "seconds": round(seconds, 3)})
            return ReloadResult(True, clf.version, previous, None, seconds)

    def mixes_for(self, clf: Classifier) -> MarketMixes:
        """The marketplace windows of ``clf`` (the current model or the one before)."""
        mixes = self._mixes.get(clf.version)
        if mixes is None:  # a model older than the two kept: its labels go nowhere
            mixes = self._new_mixes(clf)
        return mixes

    def classifier_for(self, version: str) -> Classifier:
        """The model that produced ``version``'s predictions (current or the one before)."""
        clf = self._recent.get(version) or self.classifier
        if clf is None:
            raise RuntimeError("no model is loaded")
        return clf

    def note_overrides_written(self) -> None:
        """This process wrote the overrides file: the next batch applies it again, to the
        model current then.

        The writer applied the change to the model it saw; a reload finishing at the same
        moment may have installed a model that read the file before the write, and marking
        the file as seen would leave that model serving without the change.
        """
        self._override_stamp = None
        self._override_checked = 0.0

    # -- prediction (runs on the inference threads) -------------------------------------
    def _refresh_overrides(self, clf: Classifier) -> None:
        now = time.monotonic()
        if now - self._override_checked < _OVERRIDE_CHECK_S:
            return
        self._override_checked = now
        if self.overrides.stamp() != self._override_stamp:
            self._apply_overrides(clf)

    def predict_batch(self, listings: list[Listing]) -> list[Any]:
        """Predictions for one micro-batch, all from the same model.

        A listing that names its marketplace is scored at that marketplace's mix once the
        windows hold enough of its earlier listings (``market_adaptation``); its prediction
        says so in ``extra["market_mix"]``."""
        clf = self.classifier
        if clf is None:
            raise RuntimeError("no model is loaded")
        self._refresh_overrides(clf)
        started = time.perf_counter()
        proba = clf.predict_proba(listings)
        # at the training mix: the labels BBSE reads against the validation confusion
        # matrix, and the scores a marketplace's estimate corrects
        mixes = self.mixes_for(clf)
        markets = [x.market for x in listings]
        proba, used = mixes.serve(markets, clf.at_training_mix(proba), otherwise=proba)
        predictions = clf.predictions(listings, proba)
        self.metrics.model_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_listings.observe(len(listings))
        for prediction, mix in zip(predictions, used, strict=True):
            if mix is not None:
                prediction.extra["market_mix"] = {"market": mix.market,
                                                  "listings": mix.listings}
        named = sum(m is not None for m in markets)
        if named:
            adapted = sum(u is not None for u in used)
            self.metrics.market_listings.labels(adapted="yes").inc(adapted)
            self.metrics.market_listings.labels(adapted="no").inc(named - adapted)
            self.metrics.markets.set(mixes.held())
        self.metrics.observe_predictions(clf.labels.names, proba,
                                         [p.label for p in predictions],
                                         [p.decision for p in predictions])
        return predictions

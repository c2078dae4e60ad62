"""Prometheus metrics, one registry per app (so several apps in one process never clash).

With ``--workers N`` each worker process keeps its own counters; a scrape reaches one of
them. Run one worker per container/port when exact totals matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SCORE_BUCKETS = tuple(round(x, 2) for x in np.linspace(0.05, 1.0, 20))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("contraband_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("contraband_http_request_duration_seconds",
                                 "time from request to the end of the response",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("contraband_http_errors", "responses with a 4xx or 5xx status",
                              ["route", "kind"], registry=r)
        self.in_flight = Gauge("contraband_http_in_flight", "requests being handled",
                               registry=r)
        self.predictions = Counter("contraband_predictions", "listings classified",
                                   ["label", "decision"], registry=r)
        self.scores = Histogram("contraband_class_score", "every class score of every listing",
                                ["class_name"], buckets=SCORE_BUCKETS, registry=r)
        self.batch_listings = Histogram("contraband_batch_listings",
                                        "listings per model call (micro-batching)",
                                        buckets=BATCH_BUCKETS, registry=r)
        self.model_seconds = Histogram("contraband_model_call_duration_seconds",
                                       "time of one batched model call",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.model_info = Gauge("contraband_model_info", "the bundle being served (value 1)",
                                ["version", "kind"], registry=r)
        self.reloads = Counter("contraband_model_reloads", "model reloads", ["outcome"],
                               registry=r)
        self.feedback = Counter("contraband_feedback", "moderator verdicts stored", ["label"],
                                registry=r)
        self.rate_limited = Counter("contraband_rate_limited", "requests refused with 429",
                                    ["key"], registry=r)
        self.explanations = Counter("contraband_explanations", "explanations by outcome",
                                    ["status"], registry=r)
        self.mix = Gauge("contraband_estimated_class_share",
                         "each class's share of the listings scored lately, estimated by "
                         "BBSE (GET /v1/mix), with its 95% interval (bound = low / high)",
                         ["class_name", "bound"], registry=r)
        self.market_listings = Counter(
            "contraband_market_listings", "listings that named their market, by whether "
            "they were scored at its estimated mix (adapted = yes / no: too few earlier "
            "listings, or market adaptation off)", ["adapted"], registry=r)
        self.markets = Gauge("contraband_markets_held",
                             "markets whose windows this process keeps", registry=r)

    def observe_predictions(self, names: Sequence[str], proba: np.ndarray,
                            labels: Sequence[str], decisions: Sequence[str]) -> None:
        for label, decision in zip(labels, decisions, strict=True):
            self.predictions.labels(label=label, decision=decision).inc()
        for column, name in enumerate(names):
            child = self.scores.labels(class_name=name)
            for value in proba[:, column]:
                child.observe(float(value))

    def set_mix(self, estimate: Mapping[str, float] | None,
                interval: Mapping[str, Sequence[float]] | None) -> None:
        """The served mix's estimate and interval; none (too few listings yet, or a bundle
        that cannot estimate) leaves no series, rather than a stale one."""
        self.mix.clear()
        for name, share in (estimate or {}).items():
            self.mix.labels(class_name=name, bound="estimate").set(share)
            if interval and name in interval:
                low, high = interval[name]
                self.mix.labels(class_name=name, bound="low").set(low)
                self.mix.labels(class_name=name, bound="high").set(high)

    def set_model(self, version: str, kind: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version=version, kind=kind).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)

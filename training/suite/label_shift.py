"""Label-shift adaptation per market: the scores corrected to each market's own class mix.

A scan of one market is a batch: its class mix can be estimated from its own unlabelled
scores and the scores corrected to it (:mod:`model.priors`; ``contraband adapt`` does it to
a scan's output). This section measures what that does on the evaluation splits, grouping
each split's rows by market as a crawl of each market would be. It is a different protocol
from the rest of the suite: every figure here used a whole market's rows (never their
labels) to score each of them, which a one-listing-at-a-time API call cannot do.

The two exceptions are the API's ways, one listing at a time:

- ``after_served``: each half of a market scored with the target prior estimated from the
  other half (what a server given ``GET /v1/mix``'s ``suggested_target_prior`` from earlier
  traffic does), so no listing's own text shapes the mix it is scored at;
- ``after_online``: every listing of the split sent once, in a random order across its
  markets, in requests of 32 that name each listing's market, to the server's own market
  adaptation (:class:`model.market_mix.MarketMixes` with the server's default settings): a
  market's listings are scored at the training mix until 200 of them have been, then at the
  mix estimated from its earlier listings. Nothing but the market's name is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from model import Classifier
from model.market_mix import MarketMixes
from model.priors import (
    BBSE,
    EM,
    MIN_GROUP_ROWS,
    Adapter,
    adapt_groups,
    adapter,
    label_shift_record,
    named_intervals,
    named_shares,
    prior_vector,
    reweighted,
    served_weights,
)
from training.metrics import bootstrap_macro_f1, groups_of, to_ids
from training.suite.common import rounded, split_proba
from training.suite.crossmarket import market_score

SPLITS = ("test", "oot", "cross_market")
ONLINE_BATCH = 32  # listings per request in the online protocol (the load test's batch)
DIGITS = 4  # as the suite's other figures (training.suite.common.rounded)


def label_shift(classifier: Classifier, frames: dict[str, pd.DataFrame],
                min_rows: int = MIN_GROUP_ROWS) -> dict[str, Any]:
    """Macro-F1 and lawful false-positive rate before and after per-market adaptation.

    ``after`` is BBSE's (what `contraband adapt` does with a bundle that records its
    validation confusion matrix) and ``after_em`` EM's, for comparison.
    """
    labels = classifier.labels
    names = list(labels.names)
    record, origin = adaptation_record(classifier, frames)
    source = prior_vector(record["source_prior"], names)
    methods = (BBSE, EM)  # the first is the one reported as ``after``
    estimators = {m: adapter(m, record, names) for m in methods}
    adapters = {m: estimator.adapt for m, estimator in estimators.items()}
    interval = estimators[methods[0]].interval
    result: dict[str, Any] = {
        "min_rows": min_rows, "method": methods[0], "source_prior_origin": origin,
        "source_prior": named_shares(source, names, DIGITS),
        "interval_covers": estimators[methods[0]].interval_covers,
    }
    for split in SPLITS:
        frame = frames.get(split)
        if frame is None or frame.empty:
            continue
        proba = split_proba(classifier, frame)
        # key suffix → (the split's adapted scores, each market's adaptation)
        runs = {("" if m == methods[0] else f"_{m}"):
                adapt_groups(proba, frame["market"].to_numpy(), adapters[m], min_rows=min_rows)
                for m in methods}
        markets: dict[str, Any] = {}
        served = served_scores(proba, frame["market"].to_numpy(), adapters[methods[0]], record,
                               names, min_rows)
        online = online_scores(proba, frame["market"].to_numpy(), record, names,
                               min_rows=min_rows)
        for market, group in runs[""][1].items():  # the same groups for every method
            rows = frame.iloc[group.rows]
            entry: dict[str, Any] = {"rows": len(group.rows),
                                     "before": market_score(proba[group.rows], rows, labels)}
            if group.result is not None:
                truth = np.array([np.mean(rows["label"] == n) for n in names])
                entry["true_prior"] = named_shares(truth, names, DIGITS)
                if interval is not None:
                    entry.update(interval_check(interval(proba[group.rows]), truth, names))
            for suffix, (adapted, fitted) in runs.items():
                fit = fitted[market].result
                if fit is not None:
                    entry[f"estimated_prior{suffix}"] = named_shares(fit.prior, names, DIGITS)
                entry[f"after{suffix}"] = market_score(adapted[group.rows], rows, labels)
            if len(group.rows) >= 2 * min_rows:
                entry["after_served"] = market_score(served[group.rows], rows, labels)
            entry["after_online"] = market_score(online[group.rows], rows, labels)
            markets[market] = entry
        result[split] = {"before": split_score(proba, frame, labels),
                         **{f"after{suffix}": split_score(adapted, frame, labels)
                            for suffix, (adapted, _) in runs.items()},
                         "after_served": split_score(served, frame, labels),
                         "after_online": split_score(online, frame, labels),
                         "per_market": markets}
        checked = [e for e in markets.values() if "true_in_interval" in e]
        if checked:
            result[split]["interval_coverage"] = rounded(
                sum(len(e["true_in_interval"]) for e in checked) / (len(checked) * len(names)))
    return result


def split_score(proba: np.ndarray, frame: pd.DataFrame, labels: Any) -> dict[str, Any]:
    """:func:`~training.suite.crossmarket.market_score` for a whole split, with the 95%
    vendor-bootstrap interval of its macro-F1 (as `contraband evaluate` gives it)."""
    entry = market_score(proba, frame, labels)
    truth = to_ids(frame["label"], labels)
    present = sorted(set(truth.tolist()))
    entry["macro_f1_ci95"] = bootstrap_macro_f1(truth, proba.argmax(axis=1), present,
                                                len(labels), groups_of(frame))
    return entry


def adaptation_record(classifier: Classifier, frames: dict[str, pd.DataFrame]
                      ) -> tuple[dict[str, Any], str]:
    """What adaptation reads (``source_prior``, ``validation_confusion``,
    ``validation_rows``): the bundle's own, or for a bundle that predates them, computed from
    the validation split as training records them; and which of the two it is."""
    record = classifier.config
    if record.get("source_prior") and record.get("validation_confusion"):
        return record, "bundle"
    labels = classifier.labels
    val = frames["validation"]
    computed = label_shift_record(split_proba(classifier, val),
                                  [labels.index(v) for v in val["label"]], list(labels.names))
    return computed, ("computed from the validation split (the bundle does not record a "
                      "source prior and a confusion matrix)")


def served_scores(proba: np.ndarray, markets: np.ndarray, adapt: Adapter,
                  record: dict[str, Any], names: list[str],
                  min_rows: int = MIN_GROUP_ROWS) -> np.ndarray:
    """A split's scores with each market of at least ``2 * min_rows`` rows served at its
    other half's mix (:func:`served_at_other_half_mix`); smaller markets keep theirs."""
    served = np.array(proba, dtype=np.float64, copy=True)
    for rows in pd.Series(np.arange(len(markets))).groupby(
            np.asarray(markets).astype(str)).indices.values():
        if len(rows) >= 2 * min_rows:
            served[rows] = served_at_other_half_mix(proba[rows], adapt, record, names)
    return served


def online_scores(proba: np.ndarray, markets: np.ndarray, record: dict[str, Any],
                  names: list[str], *, min_rows: int = MIN_GROUP_ROWS, seed: int = 0,
                  batch: int = ONLINE_BATCH) -> np.ndarray:
    """A split's scores as a server with market adaptation gives them: every row sent once,
    in a seeded random order across the split's markets, in requests of ``batch`` that name
    each row's market, through :class:`model.market_mix.MarketMixes` with the server's
    default settings but ``min_rows`` (``proba`` at the training mix, ``record`` the
    bundle's adaptation record). A market's first ``min_rows`` listings keep their scores;
    later ones are scored at the mix estimated from the market's earlier listings."""
    order = np.random.default_rng(seed).permutation(len(proba))
    keys = np.asarray(markets).astype(str)
    mixes = MarketMixes(record, names, min_rows=min_rows)
    served = np.empty_like(proba, dtype=np.float64)
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        served[rows], _ = mixes.serve(keys[rows].tolist(), proba[rows])
    return served


def served_at_other_half_mix(proba: np.ndarray, adapt: Adapter, record: dict[str, Any],
                             names: list[str], seed: int = 0) -> np.ndarray:
    """One market's scores as a server would give them one listing at a time, set to the
    market's mix as estimated from earlier traffic: the rows split in two random halves
    (seeded), each scored at the target prior ``adapt`` estimates from the other half,
    written as ``GET /v1/mix`` suggests it (:func:`model.priors.prior_spec`: no share under
    0.001) and applied as ``--target-prior`` applies it."""
    first = np.random.default_rng(seed).permutation(len(proba)) < len(proba) // 2
    served = np.empty_like(proba)
    for half in (first, ~first):
        served[half] = reweighted(proba[half],
                                  served_weights(adapt(proba[~half]).prior, record, names))
    return served


# how far outside an interval a true share may lie and still count as inside: the shares
# are shown to three decimals, and a true share of exactly 0 or 1 sits on the boundary
# that percentiles of redrawn estimates approach but need not reach
_COVERAGE_SLACK = 5e-4


def interval_check(low_high: tuple[np.ndarray, np.ndarray], truth: np.ndarray,
                   names: list[str]) -> dict[str, Any]:
    """A market's 95% interval for its estimated mix (what `contraband adapt` prints) and
    which classes' true shares it holds.

    The interval covers sampling noise (the market's counts and the validation matrix's).
    Where the true share lies outside it, the estimate's own assumption failed: that the
    model errs on this market's listings of each class as it did on validation's. That is
    the mark of text unlike the training data's, which sampling noise cannot explain.
    """
    low, high = low_high
    inside = (low - _COVERAGE_SLACK <= truth) & (truth <= high + _COVERAGE_SLACK)
    return {"estimated_interval": named_intervals(low, high, names, DIGITS),
            "true_in_interval": [n for n, ok in zip(names, inside, strict=True) if ok]}


def headline(result: dict[str, Any]) -> dict[str, float]:
    """The section's figures for `--compare`, each adapted one named by its estimate
    (``..._adapted_bbse``, ``..._adapted_em``), so runs from before BBSE, whose
    ``..._adapted`` figures were EM's, are never compared with BBSE's under one name."""
    keys = {"after": result.get("method", "em"), "after_em": "em"}
    out: dict[str, float] = {}
    for split in SPLITS:
        if split in result:
            out[f"label_shift.{split}.macro_f1_before"] = result[split]["before"]["macro_f1"]
            if "after_served" in result[split]:
                out[f"label_shift.{split}.macro_f1_served_other_half_mix"] = (
                    result[split]["after_served"]["macro_f1"])
            if "after_online" in result[split]:
                out[f"label_shift.{split}.macro_f1_served_online"] = (
                    result[split]["after_online"]["macro_f1"])
            if "interval_coverage" in result[split]:
                out[f"label_shift.{split}.interval_coverage"] = (
                    result[split]["interval_coverage"])
            for key, method in keys.items():
                if key in result[split]:
                    out[f"label_shift.{split}.macro_f1_adapted_{method}"] = (
                        result[split][key]["macro_f1"])
    for market, entry in result.get("cross_market", {}).get("per_market", {}).items():
        if entry["rows"] < result["min_rows"]:
            continue
        for key, method in keys.items():
            if key in entry and entry[key]["benign_fp_rate"] is not None:
                out[f"label_shift.{market}.fp_rate_adapted_{method}"] = (
                    entry[key]["benign_fp_rate"])
    return out

"""Scores on markets a model has never seen.

Four views, all on the dataset's prepared ``text`` column:

- ``bundle_per_market``: the bundle itself on each market's vendor-disjoint test rows and on
  the markets it never trained on (the 2020 markets and the held-out shops). This is the
  protocol for model kinds too slow to retrain per fold (the transformer, the cascade).
- ``leave_one_market_out``: for the baseline architecture, one fast model per market with
  that market's rows removed from training, scored on that market's test rows, next to a
  reference model trained the same way on every market (so the cost of the fast
  configuration is not mistaken for the cost of an unseen market).
- ``out_of_time`` and ``darknet_to_shop``: the bundle on the 2020 markets, and its
  false-positive rate on shops it never saw.
- ``transfer_matrix``: train on one dark-web market (plus a shared lawful background),
  test on each other market's held-out vendors.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from model import Classifier
from model.labels import LabelSet
from training.metrics import to_ids
from training.suite.common import bundle_texts, cap_per_class, rounded, score
from training.suite.fastfit import FoldModel, RetrainConfig

log = logging.getLogger(__name__)


def fit_fast(frame: pd.DataFrame, labels: LabelSet, config: RetrainConfig) -> FoldModel:
    """A fold model fitted on at most ``config.per_class`` rows per class of ``frame``."""
    train = cap_per_class(frame, config.per_class, config.seed)
    return FoldModel(config, len(labels)).fit(
        train["text"].tolist(), to_ids(train["label"], labels), groups=train["group"].tolist()
    )


def market_score(proba: np.ndarray, frame: pd.DataFrame, labels: LabelSet) -> dict[str, Any]:
    metrics = score(to_ids(frame["label"], labels), proba, labels)
    benign = frame["label"].to_numpy() == labels.negative
    predicted = proba.argmax(axis=1)
    negative = labels.index(labels.negative)
    fp = float(np.mean(predicted[benign] != negative)) if benign.any() else None
    return {
        "rows": len(frame),
        "classes": metrics["macro_f1_classes"],
        "macro_f1": rounded(metrics["macro_f1"]),
        "accuracy": rounded(metrics["accuracy"]),
        "benign_fp_rate": None if fp is None else rounded(fp),
    }


def market_frames(frames: dict[str, pd.DataFrame], config: RetrainConfig) -> dict[str, Any]:
    """Each market's evaluation rows: its test-split rows, else its rows in cross_market."""
    out = {}
    test = frames.get("test", pd.DataFrame(columns=["market"]))
    unseen = frames.get("cross_market", pd.DataFrame(columns=["market"]))
    for market, rows in test.groupby("market", sort=True):
        out[str(market)] = (rows, True)
    for market, rows in unseen.groupby("market", sort=True):
        if market in out:  # a market in both: keep the test rows; the shop half is unseen
            continue
        out[str(market)] = (rows, False)
    return {
        m: (cap_per_class(rows, config.test_per_class, config.seed), seen)
        for m, (rows, seen) in out.items() if len(rows) >= config.min_test_rows
    }


def bundle_per_market(classifier: Classifier, frames: dict[str, pd.DataFrame],
                      config: RetrainConfig) -> dict[str, Any]:
    result = {}
    for market, (rows, seen) in market_frames(frames, config).items():
        proba = classifier.predict_proba_texts(bundle_texts(classifier, rows))
        result[market] = {**market_score(proba, rows, classifier.labels), "seen_in_training": seen,
                          "kind": str(rows["kind"].iloc[0])}
    return result


def leave_one_market_out(train: pd.DataFrame, frames: dict[str, pd.DataFrame],
                         labels: LabelSet, config: RetrainConfig) -> dict[str, Any]:
    """Retrain without each market in turn; score it on that market's evaluation rows."""
    started = time.perf_counter()
    reference = fit_fast(train, labels, config)
    folds: dict[str, Any] = {}
    trained_markets = set(train["market"])
    for market, (rows, _seen) in market_frames(frames, config).items():
        ref = market_score(reference.predict_proba(rows["text"].tolist()), rows,
                            labels)
        if market in trained_markets:
            remaining = train[train["market"] != market]
            if remaining["label"].nunique() < 2:
                continue
            log.info("leave-one-market-out: fitting without %s", market)
            model = fit_fast(remaining, labels, config)
            held = market_score(model.predict_proba(rows["text"].tolist()), rows,
                                 labels)
        else:
            held = ref  # never in the training data: the reference already left it out
        folds[market] = {
            "kind": str(rows["kind"].iloc[0]),
            "in_training_split": market in trained_markets,
            "reference": ref,
            "left_out": held,
            "macro_f1_drop_points": rounded(100 * (ref["macro_f1"] - held["macro_f1"]), 2),
        }
    return {"config": asdict(config), "folds": folds,
            "seconds": round(time.perf_counter() - started, 1)}


def out_of_time(classifier: Classifier, frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The bundle on the 2020 markets, overall and per market, next to the in-domain test."""
    labels = classifier.labels
    result: dict[str, Any] = {}
    for split in ("test", "oot"):
        frame = frames.get(split)
        if frame is None or frame.empty:
            continue
        proba = classifier.predict_proba_texts(bundle_texts(classifier, frame))
        result[split] = market_score(proba, frame, labels)
        if split == "oot":
            result["oot_per_market"] = {
                str(m): market_score(proba[np.flatnonzero(frame["market"].to_numpy() == m)],
                                      frame[frame["market"] == m], labels)
                for m in sorted(frame["market"].unique())
            }
    return result


def darknet_to_shop(classifier: Classifier, frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """False positives of a dark-web-trained model on lawful shops it never saw."""
    frame = frames.get("cross_market")
    if frame is None:
        return {}
    shops = frame[(frame["kind"] == "surface") & (frame["label"] == classifier.labels.negative)]
    result = {}
    negative = classifier.labels.index(classifier.labels.negative)
    for source, rows in shops.groupby("source", sort=True):
        proba = classifier.predict_proba_texts(bundle_texts(classifier, rows))
        decisions, _ = classifier.decide(proba)
        flagged = np.isin(decisions, ["block", "review"])
        result[str(source)] = {
            "rows": len(rows),
            "fp_rate_argmax": rounded(np.mean(proba.argmax(axis=1) != negative)),
            "fp_rate_block": rounded(np.mean(np.asarray(decisions) == "block")),
            "fp_rate_block_or_review": rounded(np.mean(flagged)),
        }
    return result


def _split_market(rows: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """70/30 by group (vendor), so a vendor is never on both sides."""
    if rows["group"].nunique() < 2:
        return rows, rows.iloc[0:0]
    splitter = GroupShuffleSplit(n_splits=1, test_size=0.3, random_state=seed)
    train_idx, test_idx = next(splitter.split(rows, groups=rows["group"]))
    return rows.iloc[train_idx], rows.iloc[test_idx]


def transfer_matrix(
    darknet: pd.DataFrame,
    background_train: pd.DataFrame,
    background_test: pd.DataFrame,
    labels: LabelSet,
    config: RetrainConfig,
    shops: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Macro-F1 of a model trained on market *row* and tested on market *column*.

    Dark-web markets sell only illicit goods, so each training market gets the same lawful
    background (``background_train``) and each test cell the same lawful test rows
    (``background_test``): a cell measures both catching the market's listings and leaving
    shop listings alone. Each market is split 70/30 by vendor group; the diagonal is the
    in-market score on held-out vendors. The ``shops`` column, if given, is the share of
    unseen shop listings left alone (1 − false-positive rate).
    """
    counts = darknet["market"].value_counts()
    markets = sorted(m for m, n in counts.items() if n >= config.min_market_rows)
    halves = {m: _split_market(darknet[darknet["market"] == m], config.seed) for m in markets}
    markets = [m for m in markets if len(halves[m][1])]
    columns = [*markets, *(["held-out shops"] if shops is not None and len(shops) else [])]
    matrix = np.full((len(markets), len(columns)), np.nan)
    for i, train_market in enumerate(markets):
        train = pd.concat([halves[train_market][0], background_train])
        if train["label"].nunique() < 2:
            continue
        model = fit_fast(train, labels, config)
        for j, test_market in enumerate(markets):
            test = pd.concat([cap_per_class(halves[test_market][1], config.test_per_class,
                                            config.seed), background_test])
            proba = model.predict_proba(test["text"].tolist())
            matrix[i, j] = score(to_ids(test["label"], labels), proba, labels)["macro_f1"]
        if len(columns) > len(markets):
            proba = model.predict_proba(shops["text"].tolist())
            matrix[i, -1] = float(np.mean(proba.argmax(axis=1) == labels.index(labels.negative)))
    return {
        "train_markets": markets,
        "test_markets": columns,
        "metric": "macro-F1 (market columns); share of shop rows left alone (shops column)",
        "matrix": [[None if np.isnan(v) else rounded(v) for v in row] for row in matrix],
        "train_rows": {m: len(halves[m][0]) for m in markets},
        "test_rows": {m: len(halves[m][1]) for m in markets},
    }


def transfer_inputs(frames: dict[str, pd.DataFrame], config: RetrainConfig
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Dark-web rows of every split, the lawful backgrounds, and the unseen shops."""
    darknet = pd.concat([f[f["kind"] == "darkweb"] for name, f in frames.items()
                         if name != "cross_market"], ignore_index=True)
    darknet = darknet.drop_duplicates("uid")
    surface_train = frames["train"][frames["train"]["kind"] == "surface"]
    surface_test = frames["test"][frames["test"]["kind"] == "surface"]
    background_train = surface_train.sample(min(len(surface_train), config.per_class),
                                            random_state=config.seed)
    background_test = surface_test.sample(min(len(surface_test), config.test_per_class // 3),
                                          random_state=config.seed)
    cross = frames.get("cross_market")
    shops = cross[cross["kind"] == "surface"] if cross is not None else None
    if shops is not None:
        shops = shops.sample(min(len(shops), config.test_per_class), random_state=config.seed)
    return darknet, background_train, background_test, shops


def headline(result: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    oot = result.get("out_of_time", {})
    for split in ("test", "oot"):
        if split in oot:
            out[f"crossmarket.{split}.macro_f1"] = oot[split]["macro_f1"]
    for market, fold in result.get("leave_one_market_out", {}).get("folds", {}).items():
        out[f"crossmarket.lomo.{market}.macro_f1"] = fold["left_out"]["macro_f1"]
    for shop, r in result.get("darknet_to_shop", {}).items():
        out[f"crossmarket.shop.{shop}.fp_rate_argmax"] = r["fp_rate_argmax"]
    return out

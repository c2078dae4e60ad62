"""Darknet-register features: n-grams that say where a listing was written, not what it offers.

The shared data's illicit listings all come from darknet markets and almost all benign ones
from shop catalogues (see ``training/register.py``), so a linear model learns the darknet
way of writing ("free", "please", "custom", "shipped", "priority", "seller", "x") as
evidence of an illicit class, and flags person-to-person ads from a site it has never
seen. The training data holds the contrast that separates the two: the darknet markets'
lawful listings (tobacco, electronics, books: the ``darknet-benign`` and
``darknet-lawful-goods`` supplements). A feature is a register feature when

- darknet listings of the benign class *and* of the illicit classes each hold it at least
  ``exp(min_log_odds)`` times as often as shop listings do (both sides of the darknet, so
  it is about the market, not the goods), and
- the darknet benign and illicit listings hold it at rates within ``exp(max_spread)`` of each
  other (so it says nothing about the class there).

:func:`register_features` returns those feature ids; the baseline fits and calibrates with
them and then drops their weights (``TfidfLinearModel(masked_features=...)``), so what it
predicts with is the evidence of what a listing offers. Rates are document frequencies
with add-one smoothing, so a feature seen in a handful of listings cannot reach a large
ratio by chance; ``min_rows`` drops rarer ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.features import HashedTfidf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisterMask:
    """How register features are chosen (see the module docstring)."""

    min_log_odds: float = 0.5
    max_spread: float = 0.5
    min_rows: int = 3

    def __post_init__(self) -> None:
        if self.max_spread <= 0:
            raise ValueError(f"max_spread must be positive, got {self.max_spread}")
        if self.min_rows < 1:
            raise ValueError(f"min_rows must be at least 1, got {self.min_rows}")


def _log_rate(frequency: np.ndarray, rows: int) -> np.ndarray:
    return np.log((frequency + 1.0) / (rows + 2.0))


def register_features(
    features: HashedTfidf,
    darknet_negative: Sequence[str],
    darknet_positive: Sequence[str],
    shop_negative: Sequence[str],
    mask: RegisterMask | None = None,
) -> np.ndarray:
    """Ids of the features that mark the darknet register, ascending.

    ``darknet_negative``: prepared texts of lawful darknet listings; ``darknet_positive``:
    of illicit (darknet) listings; ``shop_negative``: of lawful shop listings. Each must be
    non-empty: without all three there is no contrast to measure.
    """
    mask = mask or RegisterMask()
    groups = {"darknet lawful": darknet_negative, "darknet illicit": darknet_positive,
              "shop lawful": shop_negative}
    empty = [name for name, texts in groups.items() if len(texts) == 0]
    if empty:
        raise ValueError(f"register features need listings of every kind; none for "
                         f"{', '.join(empty)}")
    frequency = {name: features.document_frequency(list(texts))
                 for name, texts in groups.items()}
    rate = {name: _log_rate(frequency[name], len(groups[name])) for name in groups}
    lawful_over_shop = rate["darknet lawful"] - rate["shop lawful"]
    illicit_over_shop = rate["darknet illicit"] - rate["shop lawful"]
    spread = np.abs(rate["darknet lawful"] - rate["darknet illicit"])
    chosen = ((np.minimum(lawful_over_shop, illicit_over_shop) > mask.min_log_odds)
              & (spread < mask.max_spread)
              & (frequency["darknet lawful"] >= mask.min_rows)
              & (frequency["darknet illicit"] >= mask.min_rows))
    return np.flatnonzero(chosen)


def register_kinds(rows: pd.DataFrame, negative: str) -> tuple[list[str], list[str], list[str]]:
    """Texts of the lawful darknet, illicit darknet and lawful shop listings among ``rows``,
    by their ``kind`` ("darkweb" / "surface") and ``label``: :func:`register_features`'s
    three arguments. Rows of neither kind (``--extra-train`` rows) are in none of them."""
    darknet = rows["kind"].eq("darkweb").to_numpy()
    lawful = rows["label"].eq(negative).to_numpy()
    shop = rows["kind"].eq("surface").to_numpy()
    texts = rows["text"].astype(str).to_numpy()
    return tuple(list(texts[kind]) for kind in (darknet & lawful, darknet & ~lawful,
                                                 shop & lawful))


def register_features_of(rows: pd.DataFrame, negative: str, features: HashedTfidf,
                         mask: RegisterMask) -> np.ndarray | None:
    """:func:`register_features` chosen on training ``rows`` by their own kinds
    (:func:`register_kinds`); None, logged, when the rows lack one of the three kinds the
    contrast needs (say, trained without the darknet-benign supplements)."""
    kinds = register_kinds(rows, negative)
    if not all(kinds):
        log.warning("no darknet-register features: the training rows need lawful and illicit "
                    "darknet listings and lawful shop listings")
        return None
    return register_features(features, *kinds, mask)

"""Lawful look-alikes weighed against the illicit listings they resemble (an option).

Balanced class weights make one weapons row count as much as about a hundred benign ones,
so the 33 darknet knife listings in training outvote the 55 lawful knives on the word
"knife", and a kitchen knife written with its blade length reads as a weapon. The
out-of-fold hard negatives (``--hard-negative-weight``) cannot see this: every training
knife is read right out of fold, so none is mined.

Given look-alike groups (by default the evaluation suite's, ``training/suite/
hard_negatives.toml``: genuine watches, gift cards, knives, ...), each group's lawful
training rows together weigh SHARE times the group's training rows of the class the group
looks like, under balanced class weights. At SHARE = 1 the words that define a group ("knife")
stop being evidence for either side, and the fit has to learn what tells the two apart.

Only the training rows are read. The evaluation suite reports the same groups on the
validation, test and cross-market rows, so with this option that figure measures how the
balance generalises to unseen members of groups named in advance, no longer how the model
fares on look-alikes nobody anticipated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.suite.lookalike_groups import load_definition

COLUMNS = ("label", "source", "category", "title")


def check_lookalike_balance(share: float) -> None:
    """Refuse a share the weighting cannot use."""
    if not share >= 0:  # also refuses NaN
        raise ValueError(f"lookalike_balance must be >= 0, got {share}")


@dataclass(frozen=True)
class GroupBalance:
    """What the balance did to one look-alike group's training rows."""

    group: str
    looks_like: str
    lawful_rows: int
    illicit_rows: int
    weight: float  # of each lawful row (1 = unchanged)


def lookalike_weights(
    frame: pd.DataFrame, negative: str, share: float,
    definition: str | Path | None = None,
) -> tuple[np.ndarray, list[GroupBalance]]:
    """Row weights for ``frame`` (one per row) and what they did, group by group.

    A lawful (``negative``) row of a group whose rows of its look-alike class c number
    ``illicit`` weighs ``share * illicit * n_negative / (lawful * n_c)``, never less than 1;
    ``n`` are the class counts of ``frame``, so this is the balanced class weights' ratio.
    A row in two groups takes the larger weight. Groups that name a class ``frame`` lacks
    (another label policy), or that have no lawful or no illicit rows, change nothing.
    ``frame`` needs the columns label, source, category and title (missing values are
    matched by no rule).
    """
    check_lookalike_balance(share)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"look-alike weighting needs columns {missing}")
    weights = np.ones(len(frame))
    if share == 0 or frame.empty:
        return weights, []
    _, groups = load_definition(definition)
    labels = frame["label"].to_numpy()
    counts = frame["label"].value_counts()
    summary = []
    for group in groups:
        if group.looks_like not in counts or negative not in counts:
            continue
        members = group.mask(frame)
        lawful = members & (labels == negative)
        illicit = int(np.sum(members & (labels == group.looks_like)))
        weight = 1.0
        if lawful.any() and illicit:
            weight = max(1.0, float(share * illicit * counts[negative]
                                    / (lawful.sum() * counts[group.looks_like])))
            weights[lawful] = np.maximum(weights[lawful], weight)
        summary.append(GroupBalance(group.name, group.looks_like, int(lawful.sum()), illicit,
                                    round(weight, 2)))
    return weights, summary


def summary_record(summary: list[GroupBalance]) -> list[dict[str, Any]]:
    """The summary as JSON-ready dicts (for the bundle's config)."""
    return [asdict(s) for s in summary]

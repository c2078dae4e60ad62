"""Leakage-safe splits: no group (vendor or near-duplicate cluster) in two splits.

Out-of-time markets and held-out shops are set aside first and never enter training.
Within the rest, whole groups are assigned to train, validation and test so that each split
keeps the class mix (:func:`assign_grouped`). Seeded and order-independent:
rows are sorted by ``uid`` first, so the same inputs give the same splits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.policy import SplitSettings

TRAIN, VALIDATION, TEST, OOT, CROSS_MARKET = "train", "validation", "test", "oot", "cross_market"
SPLITS = (TRAIN, VALIDATION, TEST, OOT, CROSS_MARKET)


def assign_grouped(
    labels: pd.Series, groups: pd.Series, fractions: dict[str, float], seed: int
) -> np.ndarray:
    """Assign whole groups to named splits, keeping each class near its target share.

    Greedy and deterministic: groups are shuffled with ``seed``, then taken largest first;
    each goes to the split where its rows overshoot that split's per-class target least.
    (scikit-learn's ``StratifiedGroupKFold`` does the same job but is minutes-slow on the
    ~50,000 groups of the shared data.)
    """
    names = list(fractions)
    share = np.array([fractions[n] for n in names])
    classes, class_idx = np.unique(labels.to_numpy(dtype=str), return_inverse=True)
    group_names, group_idx = np.unique(groups.to_numpy(dtype=str), return_inverse=True)
    counts = np.zeros((len(group_names), len(classes)))
    np.add.at(counts, (group_idx, class_idx), 1)
    totals = counts.sum(axis=0)
    order = np.random.default_rng(seed).permutation(len(group_names))
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    filled = np.zeros((len(names), len(classes)))
    target = share[:, None] * totals[None, :]
    choice = np.empty(len(group_names), dtype=np.int64)
    for g in order:
        row = counts[g]
        cost = ((filled + row) / target * row).sum(axis=1)
        best = int(np.argmin(cost))
        choice[g] = best
        filled[best] += row
    return np.array(names, dtype=object)[choice[group_idx]]


def split(frame: pd.DataFrame, settings: SplitSettings) -> dict[str, pd.DataFrame]:
    """Return ``{split name: rows}``; ``cross_market`` = out-of-time ∪ held-out shops."""
    frame = frame.sort_values("uid", kind="stable").reset_index(drop=True)
    is_oot = frame["market"].isin(settings.out_of_time_markets).to_numpy()
    is_held = frame["source"].isin(settings.held_out_sources).to_numpy() & ~is_oot
    rest = frame.loc[~is_oot & ~is_held].reset_index(drop=True)

    fractions = {
        TRAIN: 1 - settings.validation_fraction - settings.test_fraction,
        VALIDATION: settings.validation_fraction,
        TEST: settings.test_fraction,
    }
    assigned = assign_grouped(rest["label"], rest["group"], fractions, settings.seed)
    oot = frame.loc[is_oot]
    return {
        **{name: rest.loc[assigned == name].reset_index(drop=True) for name in fractions},
        OOT: oot.reset_index(drop=True),
        CROSS_MARKET: pd.concat([oot, frame.loc[is_held]]).reset_index(drop=True),
    }


def shared_groups(splits: dict[str, pd.DataFrame]) -> set[str]:
    """Groups found in more than one of train / validation / test (should be empty)."""
    seen: dict[str, str] = {}
    shared = set()
    for name in (TRAIN, VALIDATION, TEST):
        for group in set(splits[name]["group"]):
            if group in seen and seen[group] != name:
                shared.add(group)
            seen.setdefault(group, name)
    return shared

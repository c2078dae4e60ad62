"""Class-capped, source-balanced training samples.

Capping each class keeps 100k Agora drug titles from drowning 1k weapons titles and keeps
CPU training short. Within a class the cap is spread evenly across sources ("water
filling"): every source gets the same share, a source smaller than its share is kept whole
and the rest is shared among the bigger ones. This keeps the small hard-negative shops
(toy guns, grass seed, herb grinders, supplements) that teach the model what is lawful.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def water_fill(sizes: dict[str, int], cap: int) -> dict[str, int]:
    """How many rows to take from each group so the total is at most ``cap``, evenly."""
    take = dict.fromkeys(sizes, 0)
    remaining = dict(sizes)
    budget = cap
    while remaining and budget > 0:
        share = budget // len(remaining)
        if share == 0:
            # fewer rows left than groups: one more each from the largest groups
            for name in sorted(remaining, key=lambda k: (-remaining[k], k))[:budget]:
                take[name] += 1
            break
        done = []
        for name, left in remaining.items():
            got = min(left, share)
            take[name] += got
            budget -= got
            remaining[name] = left - got
            if remaining[name] == 0:
                done.append(name)
        for name in done:
            del remaining[name]
    return take


def capped_sample(
    frame: pd.DataFrame,
    *,
    label_column: str,
    group_column: str,
    caps: dict[str, int],
    seed: int,
) -> pd.DataFrame:
    """At most ``caps[label]`` rows per label, spread evenly over ``group_column`` values."""
    rng = np.random.default_rng(seed)
    picked = []
    for label, rows in frame.groupby(label_column, sort=True):
        cap = caps.get(str(label))
        if cap is None:
            raise ValueError(f"no cap given for class {label!r}")
        groups = rows[group_column].fillna("?").astype(str)
        sizes = groups.value_counts().to_dict()
        quota = water_fill(sizes, cap)
        for name, n in sorted(quota.items()):
            members = np.flatnonzero((groups == name).to_numpy())
            if n < len(members):
                members = rng.choice(members, size=n, replace=False)
            picked.append(rows.index.to_numpy()[np.sort(members)])
    index = np.concatenate(picked) if picked else np.array([], dtype=int)
    return frame.loc[index].sample(frac=1.0, random_state=seed).reset_index(drop=True)


def class_weights(y: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """Loss weight per class: (n / (k * n_c)) ** power, 1 for classes absent from ``y``."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = (counts.sum() / (present.sum() * counts[present])) ** power
    return weights

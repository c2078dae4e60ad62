"""De-duplication and the near-duplicate clusters used to group vendor-less rows.

Darknet vendors re-post the same listing endlessly and copy each other's titles. Two passes:
exact duplicates (same normalised title from the same vendor, or the same shop table when
there is no vendor), then near-identical titles across vendors (same letters and digits once
case, spacing and punctuation are ignored). A near-duplicate family whose members carry
different labels is dropped whole: the text cannot decide between them.
"""

from __future__ import annotations

import re

import pandas as pd

from data.clean import title_key

_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
CLUSTER_WORDS = 4


def near_key(title: str) -> str:
    """Letters and digits only, lower-cased: '1G  Cocaine - 90%' → '1gcocaine90'."""
    return _NOT_ALNUM.sub("", title.lower())


def cluster_key(title: str) -> str:
    """A coarse family key: the first few words of three or more letters.

    Used to group rows that have no vendor, so variants of one product ('Amazon gift card
    $25', 'Amazon gift card $50') never straddle two splits.
    """
    words = _WORD.findall(title.lower())[:CLUSTER_WORDS]
    return " ".join(words) if words else near_key(title)


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop exact and near duplicates; rows with a description win over bare titles.

    ``frame`` must be in a deterministic order; the first row of each family is kept after
    a stable sort that prefers rows with a description.
    """
    frame = frame.copy()
    frame["_has_desc"] = frame["description"].notna()
    frame = frame.sort_values("_has_desc", ascending=False, kind="stable")
    owner = frame["vendor"].where(frame["vendor"].notna(), "@" + frame["source"])
    frame["_exact"] = [f"{o}\x00{title_key(t)}" for o, t in zip(owner, frame["title"], strict=True)]
    before = len(frame)
    frame = frame.drop_duplicates("_exact", keep="first")
    exact = before - len(frame)

    frame["_near"] = [near_key(t) for t in frame["title"]]
    labels_per_key = frame.groupby("_near")["label"].nunique()
    conflicting = set(labels_per_key.index[labels_per_key > 1])
    is_conflict = frame["_near"].isin(conflicting)
    conflicts = int(is_conflict.sum())
    frame = frame.loc[~is_conflict]
    before = len(frame)
    frame = frame.drop_duplicates("_near", keep="first")
    near = before - len(frame)
    frame = frame.sort_index(kind="stable").drop(columns=["_has_desc", "_exact", "_near"])
    return frame.reset_index(drop=True), {
        "exact duplicate (same title, same vendor or shop)": exact,
        "near-identical title across vendors/shops": near,
        "near-duplicate family with conflicting labels": conflicts,
    }


def assign_groups(frame: pd.DataFrame) -> pd.Series:
    """Split groups: the vendor (per market) where known, else the near-duplicate cluster."""
    groups = [
        f"vendor:{m}:{v.lower()}" if v is not None else f"cluster:{cluster_key(t)}"
        for m, v, t in zip(frame["market"], frame["vendor"], frame["title"], strict=True)
    ]
    return pd.Series(groups, index=frame.index, name="group")

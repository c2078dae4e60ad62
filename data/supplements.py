"""Training-only supplements: rows the label rules exclude that a training run may opt into.

A supplement (declared in the policy file as ``[supplements.NAME]``) is built next to the
splits by ``contraband data build`` and never changes them: its rows are cleaned like the
rest, de-duplicated, kept apart from every evaluation set (no shared vendor or cluster, no
near-identical title) and written to ``supplement-NAME.parquet``. Training adds those the
policy marks ``by_default`` unless told otherwise, and others when asked (``contraband
train --supplement NAME``, ``--no-supplements`` for none); the splits are the same either
way, so the evaluation figures of runs with and without a supplement are measured on the
same rows.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd

from data.dedup import assign_groups, deduplicate, near_key
from data.policy import EXCLUDE, LabelPolicy, Supplement
from data.split import TRAIN

SUPPLEMENT_PREFIX = "supplement-"


def supplement_path(dataset: str | Path, name: str) -> Path:
    return Path(dataset) / f"{SUPPLEMENT_PREFIX}{name}.parquet"


def supplement_candidates(
    frame: pd.DataFrame, policy: LabelPolicy, supplement: Supplement
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows the rules exclude whose origin the supplement names, minus its text exclusions."""

    candidate_origin = functools.cache(supplement.candidate)  # few origins, 10^5 rows

    keep, missed, rejected = [], 0, 0
    for source, market, kind, category, title, description, given in frame[
        ["source", "market", "kind", "category", "title", "description", "label"]
    ].itertuples(index=False):
        # a row that carries its own label (a user's table) is the dataset's, never a candidate
        wanted = (given is None and candidate_origin(source, market, kind, category)
                  and policy.label_for(source, market, kind, category, title)[0] == EXCLUDE)
        if wanted and supplement.misses_title(title):
            missed += 1
            wanted = False
        elif wanted and supplement.rejects_text(f"{title}\n{description or ''}"):
            rejected += 1
            wanted = False
        keep.append(wanted)
    rows = frame.loc[keep].copy()
    rows["label"] = supplement.rule.label
    dropped = {"text matches an unless_text pattern": rejected}
    if supplement.when_text is not None:
        dropped = {"title matches no when_text pattern": missed, **dropped}
    return rows.reset_index(drop=True), dropped


def evaluation_guards(splits: dict[str, pd.DataFrame]) -> tuple[set[str], set[str]]:
    """What a supplement row must not share with the dataset, computed once per build:
    the near-duplicate keys of every title, and the groups of the evaluation splits."""
    titles = {near_key(t) for f in splits.values() for t in f["title"]}
    groups = {g for name, f in splits.items() if name != TRAIN for g in f["group"]}
    return titles, groups


def finish_supplement(
    rows: pd.DataFrame, dataset_titles: set[str], evaluation_groups: set[str]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """De-duplicate the candidates and keep only rows that cannot leak into evaluation.

    ``rows`` must carry ``uid`` and be sorted by it (as the build sorts the main frame);
    the two sets come from :func:`evaluation_guards`.
    """
    rows, dropped = deduplicate(rows)
    near_dataset = rows["title"].map(near_key).isin(dataset_titles)
    dropped["near-identical to a title in the dataset"] = int(near_dataset.sum())
    rows = rows.loc[~near_dataset].reset_index(drop=True)
    rows["group"] = assign_groups(rows)
    in_evaluation = rows["group"].isin(evaluation_groups)
    dropped["vendor or cluster found in an evaluation split"] = int(in_evaluation.sum())
    return rows.loc[~in_evaluation].reset_index(drop=True), dropped


def load_supplement(dataset: str | Path, name: str) -> pd.DataFrame:
    """A built supplement's rows; a clear error when the dataset was built without it."""
    from data.dataset import read_info

    built = read_info(dataset).get("supplements", {})
    path = supplement_path(dataset, name)
    if name not in built or not path.is_file():
        known = ", ".join(sorted(built)) or "none"
        raise ValueError(
            f"dataset {Path(dataset)} has no supplement {name!r} (it has: {known}); declare "
            f"[supplements.{name}] in the label policy and rebuild with `contraband data build`"
        )
    return pd.read_parquet(path)


def chosen_supplements(
    names: tuple[str, ...] | list[str] | None, info: dict[str, Any]
) -> tuple[str, ...]:
    """The supplements a training run uses: ``names``, or when None the dataset's defaults.

    The defaults are those the label policy marks ``by_default``; a dataset built before
    that field existed has none.
    """
    if names is not None:
        return tuple(names)
    return tuple(name for name, built in info.get("supplements", {}).items()
                 if built.get("by_default"))


def load_supplements(
    dataset: str | Path, names: tuple[str, ...] | list[str], info: dict[str, Any]
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    """The named supplements' rows, and what a bundle records of each (rows, sha256).

    ``info`` is the dataset's ``dataset_info.json``, which the trainers have already read.
    """
    rows = {name: load_supplement(dataset, name) for name in names}
    provenance = {name: {"rows": len(r), "sha256": info["supplements"][name].get("sha256")}
                  for name, r in rows.items()}
    return rows, provenance

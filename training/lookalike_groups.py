"""The lawful look-alike groups (genuine watches, gift cards, knives, ...): which rows are in
which group.

The groups are data, not code: ``suite/hard_negatives.toml`` (or any file passed as
``definition``) names them by rules on a row's source, category and title. The evaluation
suite reports each group's false-positive rate (``training.suite.hard_negatives``), and
training can copy the train split's look-alikes (``training.lookalike_copies``); both read
the groups here, which imports nothing from either.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_DEFINITION = Path(__file__).with_name("suite") / "hard_negatives.toml"
RULE_FIELDS = {"source", "category", "title"}


@dataclass(frozen=True)
class Rule:
    source: str
    category: re.Pattern[str] | None = None
    title: re.Pattern[str] | None = None

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        keep = np.ones(len(frame), dtype=bool)
        if self.source != "*":
            keep &= (frame["source"] == self.source).to_numpy()
        for column, pattern in (("category", self.category), ("title", self.title)):
            if pattern is not None:
                values = frame[column].fillna("").astype(str)
                keep &= np.fromiter((bool(pattern.search(v)) for v in values), bool, len(values))
        return keep


@dataclass(frozen=True)
class Group:
    name: str
    looks_like: str
    rules: tuple[Rule, ...]

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        keep = np.zeros(len(frame), dtype=bool)
        for rule in self.rules:
            keep |= rule.mask(frame)
        return keep


def _compile(pattern: Any, where: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise ValueError(f"{where}: a pattern must be a string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{where}: bad regular expression {pattern!r}: {exc}") from exc


def load_definition(path: str | Path | None = None) -> tuple[list[str], list[Group]]:
    """The splits to read and the groups, from a TOML file; errors name the bad entry."""
    path = Path(path or DEFAULT_DEFINITION)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    splits = raw.get("splits", ["test", "cross_market"])
    if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
        raise ValueError(f"{path}: 'splits' must be a list of split names")
    groups = []
    for i, entry in enumerate(raw.get("groups", [])):
        where = f"{path}: group {i + 1}"
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where} needs a 'name'")
        rules = []
        for j, rule in enumerate(entry.get("rules", [])):
            unknown = set(rule) - RULE_FIELDS
            if unknown or "source" not in rule:
                raise ValueError(f"{where} ({name}) rule {j + 1}: needs 'source' and only "
                                 f"{sorted(RULE_FIELDS)}, got {sorted(rule)}")
            rules.append(Rule(str(rule["source"]), _compile(rule.get("category"), where),
                              _compile(rule.get("title"), where)))
        if not rules:
            raise ValueError(f"{where} ({name}) has no rules")
        groups.append(Group(name, str(entry.get("looks_like", "")), tuple(rules)))
    if not groups:
        raise ValueError(f"{path}: no [[groups]] defined")
    return splits, groups


def hard_negative_rows(frames: dict[str, pd.DataFrame], splits: list[str],
                       negative: str) -> pd.DataFrame:
    """Lawful surface-web rows of ``splits`` (one copy of each uid)."""
    missing = [s for s in splits if s not in frames]
    if missing:
        raise ValueError(f"hard negatives need splits {missing}, which were not loaded")
    rows = pd.concat([frames[s] for s in splits], ignore_index=True).drop_duplicates("uid")
    return rows[(rows["kind"] == "surface") & (rows["label"] == negative)].reset_index(drop=True)


def group_membership(rows: pd.DataFrame, groups: list[Group]
                     ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each group's mask over ``rows`` by name, and which rows are in any group."""
    masks = {g.name: g.mask(rows) for g in groups}
    any_group = np.any(list(masks.values()), axis=0) if masks else np.zeros(len(rows), bool)
    return masks, any_group

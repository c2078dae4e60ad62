"""The label policy: a TOML file of ordered rules mapping source/market/category → class.

The rules live in data (``data/policy/default.toml``) so a researcher changes labels, adds a
market or adds a class without touching code.
"""

from __future__ import annotations

import fnmatch
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.labels import LabelSet

EXCLUDE = "exclude"
DEFAULT_POLICY = Path(__file__).parent / "policy" / "default.toml"
_RULE_FIELDS = {"sources", "markets", "kinds", "categories", "label", "note"}


@dataclass(frozen=True)
class Rule:
    index: int
    label: str
    sources: tuple[str, ...] = ()
    markets: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def matches(self, source: str, market: str, kind: str, category: str | None) -> bool:
        if self.sources and not _any_match(source, self.sources):
            return False
        if self.markets and not _any_match(market, self.markets):
            return False
        if self.kinds and not _any_match(kind, self.kinds):
            return False
        if self.categories:
            return category is not None and _any_match(category, self.categories)
        return True


def _any_match(value: str | None, patterns: tuple[str, ...]) -> bool:
    return value is not None and any(fnmatch.fnmatchcase(value, p) for p in patterns)


@dataclass(frozen=True)
class SplitSettings:
    out_of_time_markets: tuple[str, ...] = ()
    held_out_sources: tuple[str, ...] = ()
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class LabelPolicy:
    name: str
    labels: LabelSet
    rules: tuple[Rule, ...]
    splits: SplitSettings
    sha256: str
    path: str = field(default="")

    def label_for(
        self, source: str, market: str, kind: str, category: str | None
    ) -> tuple[str, int | None]:
        """(class or ``exclude``, index of the deciding rule or None when no rule matched)."""
        for rule in self.rules:
            if rule.matches(source, market, kind, category):
                return rule.label, rule.index
        return EXCLUDE, None


def load_policy(path: str | Path | None = None) -> LabelPolicy:
    """Read and validate a policy file; errors name the rule and field that is wrong."""
    path = Path(path) if path else DEFAULT_POLICY
    raw_bytes = path.read_bytes()
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"label policy {path} is not valid TOML: {exc}") from exc
    head = raw.get("policy", {})
    if "classes" not in head:
        raise ValueError(f"label policy {path}: [policy] needs a `classes` list")
    labels = LabelSet.from_names(head["classes"], head.get("negative", "benign"))
    rules = tuple(_parse_rule(i, r, labels, path) for i, r in enumerate(raw.get("rules", [])))
    if not rules:
        raise ValueError(f"label policy {path} has no [[rules]]")
    split_raw: dict[str, Any] = raw.get("splits", {})
    splits = SplitSettings(
        out_of_time_markets=tuple(split_raw.get("out_of_time_markets", ())),
        held_out_sources=tuple(split_raw.get("held_out_sources", ())),
        validation_fraction=float(split_raw.get("validation_fraction", 0.1)),
        test_fraction=float(split_raw.get("test_fraction", 0.1)),
        seed=int(split_raw.get("seed", 0)),
    )
    for name in ("validation_fraction", "test_fraction"):
        if not 0 < getattr(splits, name) < 0.5:
            raise ValueError(f"label policy {path}: [splits] {name} must be in (0, 0.5)")
    return LabelPolicy(
        name=str(head.get("name", path.stem)),
        labels=labels,
        rules=rules,
        splits=splits,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        path=str(path),
    )


def _parse_rule(index: int, raw: dict[str, Any], labels: LabelSet, path: Path) -> Rule:
    where = f"label policy {path}, rule #{index + 1}"
    unknown = set(raw) - _RULE_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    label = raw.get("label")
    if label != EXCLUDE and label not in labels.names:
        raise ValueError(f"{where}: label {label!r} is neither a class {list(labels.names)} "
                         f"nor {EXCLUDE!r}")
    values = {}
    for key in ("sources", "markets", "kinds", "categories"):
        value = raw.get(key, [])
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{where}: {key} must be a list of strings")
        values[key] = tuple(value)
    return Rule(index=index, label=label, **values)

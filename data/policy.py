"""The label policy: a TOML file of ordered rules mapping source/market/category → class.

The rules live in data (``data/policy/default.toml``) so a researcher changes labels, adds a
market or adds a class without touching code.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.labels import LabelSet

EXCLUDE = "exclude"
DEFAULT_POLICY = Path(__file__).parent / "policy" / "default.toml"
_ORIGIN_FIELDS = {"sources", "markets", "kinds", "categories", "label", "note"}
_RULE_FIELDS = _ORIGIN_FIELDS | {"when_title", "unless_title"}
_SUPPLEMENT_FIELDS = _ORIGIN_FIELDS | {"unless_categories", "unless_text", "when_text",
                                       "by_default"}
_SUPPLEMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Rule:
    """One policy rule: where a row comes from and, optionally, what its title says.

    ``when_title`` / ``unless_title`` let a rule look at the title as well as the origin. A
    category states what a market filed a listing under, not what it offers: Agora files
    vendors' private orders ("Custom listing for J***y"), books ("Weight Training For
    Dummies") and glass pipes under ``Drugs/*``. LABELS.md labels what a listing offers and
    excludes guides and paraphernalia, so an ``exclude`` rule with ``when_title`` placed
    before the category rules keeps those rows out of every split.
    """

    index: int
    label: str
    sources: tuple[str, ...] = ()
    markets: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    when_title: re.Pattern[str] | None = None
    unless_title: re.Pattern[str] | None = None
    note: str = ""

    @property
    def reads_title(self) -> bool:
        return self.when_title is not None or self.unless_title is not None

    def accepts_title(self, title: str | None) -> bool:
        """Whether the title meets ``when_title`` / ``unless_title`` (True when neither is
        set). A rule that needs a title match never matches a row without a title."""
        if self.when_title is not None and (not title or not self.when_title.search(title)):
            return False
        return not (self.unless_title is not None and title
                    and self.unless_title.search(title))

    def matches(self, source: str, market: str, kind: str, category: str | None) -> bool:
        """Whether the row's origin (source, market, kind, category) is the rule's."""
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
class Supplement:
    """Training-only rows: ones the rules exclude that a training run may opt into.

    LABELS.md allows, for example, a "darknet benign" option built from Agora's electronics,
    jewellery and e-book categories, "cleaned". Those rows never enter validation, test or
    the cross-market sets (their figures stay comparable with and without the option); they
    are written beside the splits by ``contraband data build`` and added to training by
    ``contraband train --supplement NAME``. A candidate row is dropped when its category
    matches ``unless_categories`` or its title or description matches a regular expression
    of ``unless_text`` (case-insensitive): the cleaning is data, not code. A supplement that
    mines a mixed category for one class (Agora's ``Services/Money`` mixes stolen cards with
    cash-out schemes) also names ``when_text``: a row is kept only if its *title* matches one
    of those. The title, not the description, because it states what is offered; a
    description mentions accounts, cards and data in passing.

    ``by_default = true`` makes the supplement part of every training run that does not
    name its supplements (``contraband train`` without ``--supplement``); the policy, not
    the code, decides what the default model learns from.
    """

    name: str
    rule: Rule
    unless_categories: tuple[str, ...] = ()
    unless_text: re.Pattern[str] | None = None
    when_text: re.Pattern[str] | None = None
    by_default: bool = False

    def candidate(self, source: str, market: str, kind: str, category: str | None) -> bool:
        """Whether a row's origin makes it a candidate (before the text is checked)."""
        if not self.rule.matches(source, market, kind, category):
            return False
        return not (self.unless_categories and _any_match(category, self.unless_categories))

    def rejects_text(self, text: str) -> bool:
        return self.unless_text is not None and self.unless_text.search(text) is not None

    def misses_title(self, title: str) -> bool:
        """Whether the supplement names ``when_text`` and the title matches none of it."""
        return self.when_text is not None and self.when_text.search(title) is None


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
    supplements: tuple[Supplement, ...] = ()
    _by_origin: dict[tuple, tuple[Rule, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def supplement(self, name: str) -> Supplement:
        for supplement in self.supplements:
            if supplement.name == name:
                return supplement
        known = ", ".join(s.name for s in self.supplements) or "none"
        raise KeyError(f"label policy {self.name!r} has no supplement {name!r} (it has: {known})")

    def label_for(
        self, source: str, market: str, kind: str, category: str | None,
        title: str | None = None,
    ) -> tuple[str, int | None]:
        """(class or ``exclude``, index of the deciding rule or None when no rule matched).

        ``title=None`` labels by origin alone: every rule that reads the title is skipped,
        ``unless_title`` ones included (an exclusion whose exception only the title can
        decide must not drop the row before the title is read)."""
        for rule in self._rules_for_origin(source, market, kind, category):
            if title is None and rule.reads_title:
                continue
            if rule.accepts_title(title):
                return rule.label, rule.index
        return EXCLUDE, None

    def _rules_for_origin(
        self, source: str, market: str, kind: str, category: str | None
    ) -> tuple[Rule, ...]:
        """The rules an origin can meet, in order, up to the first that ignores the title.

        Cached: a build labels 10^5 rows from a few hundred origins, and only the few rules
        that read the title need to be tried per row."""
        key = (source, market, kind, category)
        found = self._by_origin.get(key)
        if found is None:
            candidates = []
            for rule in self.rules:
                if rule.matches(source, market, kind, category):
                    candidates.append(rule)
                    if not rule.reads_title:
                        break
            found = self._by_origin[key] = tuple(candidates)
        return found


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
    supplements = raw.get("supplements", {})
    if not isinstance(supplements, dict):
        raise ValueError(f"label policy {path}: [supplements.NAME] must be tables")
    return LabelPolicy(
        name=str(head.get("name", path.stem)),
        labels=labels,
        rules=rules,
        splits=splits,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        path=str(path),
        supplements=tuple(_parse_supplement(n, r, labels, path) for n, r in supplements.items()),
    )


def _parse_supplement(name: str, raw: Any, labels: LabelSet, path: Path) -> Supplement:
    where = f"label policy {path}, [supplements.{name}]"
    if not _SUPPLEMENT_NAME.match(name):
        raise ValueError(f"{where}: a supplement name is lower-case letters, digits and '-'")
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(raw) - _SUPPLEMENT_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    if raw.get("label") not in labels.names:
        raise ValueError(f"{where}: label {raw.get('label')!r} is not a class {list(labels.names)}")
    rule_fields = {k: v for k, v in raw.items() if k in _ORIGIN_FIELDS}
    rule = _parse_rule(-1, rule_fields, labels, path, where=where)
    unless_categories = _string_list(raw.get("unless_categories", []), where, "unless_categories")
    by_default = raw.get("by_default", False)
    if not isinstance(by_default, bool):
        raise ValueError(f"{where}: by_default must be true or false")
    return Supplement(name=name, rule=rule, unless_categories=unless_categories,
                      unless_text=_any_pattern(raw, "unless_text", where),
                      when_text=_any_pattern(raw, "when_text", where), by_default=by_default)


def _any_pattern(raw: dict[str, Any], key: str, where: str) -> re.Pattern[str] | None:
    """One case-insensitive pattern matching any of the list ``raw[key]``; None if empty."""
    patterns = _string_list(raw.get(key, []), where, key)
    if not patterns:
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{where}: {key} has an invalid regular expression: {exc}") from exc


def _string_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list) or not all(
        isinstance(v, str) for v in value
    ):
        raise ValueError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _parse_rule(index: int, raw: dict[str, Any], labels: LabelSet, path: Path,
                where: str | None = None) -> Rule:
    where = where or f"label policy {path}, rule #{index + 1}"
    unknown = set(raw) - _RULE_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    label = raw.get("label")
    if label != EXCLUDE and label not in labels.names:
        raise ValueError(f"{where}: label {label!r} is neither a class {list(labels.names)} "
                         f"nor {EXCLUDE!r}")
    values = {key: _string_list(raw.get(key, []), where, key)
              for key in ("sources", "markets", "kinds", "categories")}
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise ValueError(f"{where}: note must be a string")
    return Rule(index=index, label=label, **values, note=note,
                when_title=_any_pattern(raw, "when_title", where),
                unless_title=_any_pattern(raw, "unless_title", where))

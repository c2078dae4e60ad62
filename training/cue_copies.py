"""Copies of illicit listings with their class's cue words deleted.

A darknet class is named by a handful of words. 94% of the training titles that say
"replica" are counterfeit, and Agora's counterfeit money nearly always says "counterfeit"
("Counterfeit $20 Notes (40 bills)"). A linear model puts its weight on those words, and
little on the rest of the listing. A market that sells the same goods without them ("ORDER
TOP UNDETECTED EURO NOTES DISCREET DELIVERY", on the 2020 markets) then reads as benign.

Training therefore adds copies of the illicit rows that hold such words, with the words
deleted from title and description. The fit must then also find the listing's other
evidence ("notes", "bills", a denomination). This is keyword masking against shortcut
learning. The cue words are found in the training titles themselves, per class: words in
at least ``min_rows`` titles of the class, of which at least ``precision`` are the class's,
the ``words_per_class`` most frequent first.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
WORD = re.compile(r"\w+")
TRIM = " -|,:;/"


@dataclass(frozen=True)
class CueCopyOptions:
    """How cue words are chosen, and how many copies a class gets."""

    words_per_class: int = 10  # 0 = no copies
    precision: float = 0.9
    min_rows: int = 20
    max_copies_per_class: int = 4000

    def __post_init__(self) -> None:
        if self.words_per_class < 0:
            raise ValueError(f"cue words per class must be >= 0, got {self.words_per_class}")
        if not 0.5 < self.precision <= 1.0:
            raise ValueError(f"cue-word precision must be within (0.5, 1], got {self.precision}")
        if self.min_rows < 1 or self.max_copies_per_class < 1:
            raise ValueError("min_rows and max_copies_per_class must be positive, got "
                             f"{self.min_rows} and {self.max_copies_per_class}")

    @classmethod
    def of(cls, settings: Any) -> CueCopyOptions:
        """The settings of a training-options object with ``cue_words``, ``cue_precision``
        and ``cue_min_rows`` (the baseline's and the transformer's), checked."""
        return cls(words_per_class=settings.cue_words, precision=settings.cue_precision,
                   min_rows=settings.cue_min_rows)


def title_words(title: object) -> set[str]:
    """The distinct lower-cased words of a title, numbers left out."""
    return {w for w in WORD.findall(str(title).lower()) if not w.isdigit()}


def cue_words(titles: pd.Series, labels: pd.Series, negative: str,
              options: CueCopyOptions) -> dict[str, list[str]]:
    """Per illicit class, the words that name it (see the module docstring).

    Ties in frequency are broken alphabetically, so the choice does not depend on row order.
    """
    return _cue_words_of([title_words(t) for t in titles], labels, negative, options)


def _cue_words_of(words: list[set[str]], labels: pd.Series, negative: str,
                  options: CueCopyOptions) -> dict[str, list[str]]:
    in_class: dict[str, Counter[str]] = {}
    everywhere: Counter[str] = Counter()
    for bag, label in zip(words, labels, strict=True):
        in_class.setdefault(label, Counter()).update(bag)
        everywhere.update(bag)
    cues = {}
    for label in sorted(set(labels) - {negative}):
        ranked = sorted(((-n, w) for w, n in in_class[label].items()
                         if n >= options.min_rows and n / everywhere[w] >= options.precision))
        cues[label] = [w for _, w in ranked[: options.words_per_class]]
    return cues


def _deleted(text: object, pattern: re.Pattern[str]) -> str | None:
    if not isinstance(text, str):
        return None
    return " ".join(pattern.sub(" ", text).split()).strip(TRIM)


def cue_copies(frame: pd.DataFrame, negative: str, options: CueCopyOptions,
               seed: int) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Copies of ``frame``'s illicit rows with their class's cue words deleted, and the words.

    ``frame`` needs columns title, description, label and group; a copy keeps its row's
    label and group (grouped folds never split the two) and is dropped when fewer than two
    words of its title are left. A class with more rows holding a cue than
    ``max_copies_per_class`` gets copies of a random sample of them.
    """
    missing = {"title", "description", "label", "group"} - set(frame.columns)
    if missing:
        raise ValueError(f"cue-word copies need columns {sorted(missing)}")
    empty = frame.iloc[:0][["title", "description", "label", "group"]]
    if options.words_per_class == 0 or frame.empty:
        return empty, {}
    bags = [title_words(t) for t in frame["title"]]
    cues = _cue_words_of(bags, frame["label"], negative, options)
    rng = np.random.default_rng(seed)
    parts = [empty]
    for label, words in cues.items():
        if not words:
            continue
        pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
        holds_cue = np.fromiter((not bag.isdisjoint(words) for bag in bags), bool, len(bags))
        rows = frame[(frame["label"] == label).to_numpy() & holds_cue]
        if len(rows) > options.max_copies_per_class:
            picked = np.sort(rng.choice(len(rows), options.max_copies_per_class, replace=False))
            rows = rows.iloc[picked]
        copies = pd.DataFrame({
            "title": [_deleted(t, pattern) for t in rows["title"]],
            "description": [_deleted(d, pattern) for d in rows["description"]],
            "label": label,
            "group": rows["group"].to_numpy(),
        })
        parts.append(copies[copies["title"].map(lambda t: len(WORD.findall(t)) >= 2)])
    result = pd.concat(parts, ignore_index=True)
    log.info("%d copies of illicit listings without their cue words %s", len(result), cues)
    return result, cues


def copies_text(n_copies: int, cues: dict[str, list[str]]) -> str:
    """The model card's account of the copies: how many, and without which words."""
    return (f"{n_copies} copies of illicit listings with the words that name their class "
            "deleted (" + "; ".join(f"{label}: {', '.join(words)}"
                                    for label, words in cues.items()) + ")")

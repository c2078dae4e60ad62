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

The lawful class has its own cue words, the shop catalogue's ("men", "shirt", "usb"): a
lawful listing written without them (a classifieds heading, "6 piece J.A Henckels knife
set") then leans on the few words it shares with darknet listings. ``lawful_words`` > 0
adds copies of the lawful rows too, with that many of their cue words deleted.
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

    words_per_class: int = 10  # per illicit class; 0 = no copies of illicit rows
    lawful_words: int = 0  # for the lawful (negative) class; 0 = no copies of lawful rows
    precision: float = 0.9
    min_rows: int = 20
    max_copies_per_class: int = 4000

    def __post_init__(self) -> None:
        if self.words_per_class < 0:
            raise ValueError(f"cue words per class must be >= 0, got {self.words_per_class}")
        if self.lawful_words < 0:
            raise ValueError(f"lawful cue words must be >= 0, got {self.lawful_words}")
        if not 0.5 < self.precision <= 1.0:
            raise ValueError(f"cue-word precision must be within (0.5, 1], got {self.precision}")
        if self.min_rows < 1 or self.max_copies_per_class < 1:
            raise ValueError("min_rows and max_copies_per_class must be positive, got "
                             f"{self.min_rows} and {self.max_copies_per_class}")

    @classmethod
    def of(cls, settings: Any) -> CueCopyOptions:
        """The settings of a training-options object with ``cue_words``, ``cue_precision``
        and ``cue_min_rows`` (the baseline's and the transformer's), and optionally
        ``lawful_cue_words``, checked."""
        return cls(words_per_class=settings.cue_words,
                   lawful_words=getattr(settings, "lawful_cue_words", 0),
                   precision=settings.cue_precision, min_rows=settings.cue_min_rows)

    def words_for(self, label: str, negative: str) -> int:
        """How many cue words ``label`` gets."""
        return self.lawful_words if label == negative else self.words_per_class


def title_words(title: object) -> set[str]:
    """The distinct lower-cased words of a title, numbers left out."""
    return {w for w in WORD.findall(str(title).lower()) if not w.isdigit()}


def cue_words(titles: pd.Series, labels: pd.Series, negative: str,
              options: CueCopyOptions) -> dict[str, list[str]]:
    """Per class, the words that name it (see the module docstring): every illicit class,
    and the lawful class ``negative`` when ``options.lawful_words`` > 0.

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
    # the lawful class last, so that adding it leaves the illicit classes' sample unchanged
    classes = sorted(set(labels) - {negative})
    if options.lawful_words and negative in in_class:
        classes.append(negative)
    for label in classes:
        ranked = sorted(((-n, w) for w, n in in_class[label].items()
                         if n >= options.min_rows and n / everywhere[w] >= options.precision))
        cues[label] = [w for _, w in ranked[: options.words_for(label, negative)]]
    return cues


def _deleted(text: object, pattern: re.Pattern[str]) -> str | None:
    if not isinstance(text, str):
        return None
    return " ".join(pattern.sub(" ", text).split()).strip(TRIM)


def cue_copies(frame: pd.DataFrame, negative: str, options: CueCopyOptions,
               seed: int) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Copies of ``frame``'s rows with their class's cue words deleted, and the words: the
    illicit rows, and the lawful ones when ``options.lawful_words`` > 0.

    ``frame`` needs columns title, description, label and group; a copy keeps its row's
    label and group (grouped folds never split the two) and is dropped when fewer than two
    words of its title are left. A class with more rows holding a cue than
    ``max_copies_per_class`` gets copies of a random sample of them.
    """
    missing = {"title", "description", "label", "group"} - set(frame.columns)
    if missing:
        raise ValueError(f"cue-word copies need columns {sorted(missing)}")
    empty = frame.iloc[:0][["title", "description", "label", "group"]]
    if (options.words_per_class == 0 and options.lawful_words == 0) or frame.empty:
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
    log.info("%d copies of listings without their cue words %s", len(result), cues)
    return result, cues


def copies_text(n_copies: int, cues: dict[str, list[str]], negative: str) -> str:
    """The model card's account of the copies: how many, and without which words."""
    which = "lawful and illicit listings" if cues.get(negative) else "illicit listings"
    return (f"{n_copies} copies of {which} with the words that name their class "
            "deleted (" + "; ".join(f"{label}: {', '.join(words)}"
                                    for label, words in cues.items()) + ")")

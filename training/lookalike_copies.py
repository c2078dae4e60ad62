"""Short copies of the lawful look-alikes, so that a bare "Knife - Dicing" is a shop's too.

Balanced class weights make one weapons listing count as much as about fifty lawful ones,
and a short darknet title ("Butterfly Knife", "Stealth Pen Knife") leaves the word "knife"
most of the evidence, so the word reads as a weapon. The shops' own knives are mostly long
titles ("6 piece J.A Henckels knife set, stainless") that the SVM already places beyond its
margin: a row there adds nothing to the hinge loss, which is why weighting them up never
moved the word (EXPERIMENTS.md, sections 3, 11 and 14). Short copies of them, the word that
makes the row a look-alike with its neighbours ("Pointed Knife 10", "Henckels knife set"),
fall inside the margin, where they count. Groups whose rules name no title pattern (a whole
shop's rows) give no copies.

The look-alikes are the lawful goods the label policy names ("a kitchen knife, a genuine
watch, vitamins, a gift card from the shop"), found by the groups of the evaluation suite's
definition (``training/suite/hard_negatives.toml``). Only training rows are copied: the
held-out rows the suite reports on stay unseen, and the suite's cross-fit, which leaves rows
out of the train split before the copies are made, never sees a copy of a row it scores.

Each copy keeps its source row's ``group``, so the calibration folds keep it with its
original, and no ``kind``, so the darknet-register contrast (``training.register_mask``)
is chosen on real listings alone, as it is for ``--extra-train`` rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from model.text import listing_text
from training.lookalike_groups import group_membership, hard_negative_rows, load_definition


def short_titles(title: str, patterns: Iterable[re.Pattern[str]] = ()) -> list[str]:
    """The short versions of ``title``: each word that one of ``patterns`` matches, with its
    neighbours on either side ("Pointed Knife 10", "Henckels knife set"); no duplicates.

    Only the look-alike word in its own lawful context: copies of each title's first words
    as well (5,066 short shop titles in all, against 587) cost validation 1.2 points,
    paired, and the darknet knives with it (EXPERIMENTS.md, section 18).
    """
    words = title.split()
    found = [" ".join(words[max(0, i - 1): i + 2]) for i, word in enumerate(words)
             if any(p.search(word) for p in patterns)]
    return list(dict.fromkeys(found))


def check_lookalike_copies(repeats: int) -> None:
    """Refuse a negative number of copies (the trainers' options check it before minutes of
    data loading)."""
    if repeats < 0:
        raise ValueError(f"lookalike_copies must be 0 or more, got {repeats}")


def lookalike_copies(train: pd.DataFrame, negative: str, repeats: int,
                     max_description_chars: int,
                     definition: str | Path | None = None) -> pd.DataFrame:
    """``repeats`` copies of each distinct short title of the lawful look-alikes in
    ``train`` (train-split rows, with the dataset's columns), labelled ``negative``.

    Columns ``text``, ``label`` and ``group`` (the group of the first row that gave the
    title); ``kind`` is left empty. ``repeats`` 0 gives no rows.
    """
    check_lookalike_copies(repeats)
    empty = pd.DataFrame({"text": [], "label": [], "group": []}, dtype=object)
    if repeats == 0 or train.empty:
        return empty
    rows = hard_negative_rows({"train": train}, ["train"], negative)
    groups = load_definition(definition)[1]
    masks, _ = group_membership(rows, groups)
    first_group: dict[str, str] = {}
    for group in groups:
        patterns = [rule.title for rule in group.rules if rule.title is not None]
        chosen = rows[masks[group.name]]
        for title, row_group in zip(chosen["title"], chosen["group"], strict=True):
            for short in short_titles(str(title), patterns):
                first_group.setdefault(short, str(row_group))
    if not first_group:
        return empty
    shorts = sorted(first_group)
    return pd.DataFrame({
        "text": [listing_text(s, None, max_description_chars) for s in shorts] * repeats,
        "label": negative,
        "group": [first_group[s] for s in shorts] * repeats,
    })


def lookalike_copies_text(n_copies: int) -> str:
    """The model card's account of the copies, for every model kind that trains on them."""
    return (f"{n_copies} short copies of the lawful look-alikes' titles (kitchen knives, "
            "genuine watches, vitamins, ...), so that a bare product word is not read as "
            "illicit; a darknet listing that says no more than that word is then read as "
            "lawful too")

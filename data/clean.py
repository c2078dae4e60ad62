"""Cleaning and labelling: normalised text, recovered vendors, policy labels."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

from data.policy import EXCLUDE, LabelPolicy
from model.text import normalise

_KEY_SPACE = re.compile(r"\s+")

# Markers a market's software (or a vendor) appends to a re-posted listing's title: Cypher
# adds "(Clone)" once per copy ("... NOTES (Clone) (Clone) (Clone)"), White House vendors
# write "(duplicate)". They are not the seller's words, and left in they hide the re-post
# from de-duplication. Agora's "(COPY)" is not one: there it names a pressed replica pill.
# Only the dataset build removes them; prediction reads titles as given.
REPOST_MARKER = re.compile(r"(?:\s*[(\[]\s*(?:clone|duplicate)\s*[)\]])+\s*$", re.IGNORECASE)


def title_key(title: str) -> str:
    """Case- and space-insensitive title, used to join and to find exact duplicates."""
    return _KEY_SPACE.sub(" ", title.lower()).strip()


def clean_text(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Normalise titles and descriptions; drop rows whose title is empty once cleaned."""
    frame = frame.copy()
    frame["title"] = pd.Series(
        [normalise(t) if isinstance(t, str) else "" for t in frame["title"]],
        index=frame.index, dtype=object,
    )
    frame["description"] = pd.Series(
        [(normalise(d) or None) if isinstance(d, str) else None for d in frame["description"]],
        index=frame.index, dtype=object,
    )
    empty = frame["title"].str.len() < 2
    dropped = {"empty or one-character title": int(empty.sum())}
    return frame.loc[~empty].reset_index(drop=True), dropped


def strip_repost_markers(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Remove re-post markers from the end of titles; return the frame and how many changed.

    A title that would be shorter than two characters without its marker keeps it, as
    cleaning keeps only titles of two characters or more.
    """
    titles = [stripped if len(stripped := REPOST_MARKER.sub("", t)) >= 2 else t
              for t in frame["title"]]
    changed = sum(new != old for new, old in zip(titles, frame["title"], strict=True))
    frame = frame.copy()
    frame["title"] = pd.Series(titles, index=frame.index, dtype=object)
    return frame, changed


def recover_vendors(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Fill missing vendors from rows of the same market with the same title.

    Agora's product pages have no vendor, but the titles table lists the same titles with
    vendors. Only titles that map to exactly one vendor in that market are used, so a
    generic title shared by many sellers is never pinned on one of them.
    """
    known = frame.loc[frame["vendor"].notna(), ["market", "title", "vendor"]]
    vendors_by_key: dict[tuple[str, str], set[str]] = {}
    for market, title, vendor in known.itertuples(index=False):
        vendors_by_key.setdefault((market, title_key(title)), set()).add(vendor)
    unique = {k: next(iter(v)) for k, v in vendors_by_key.items() if len(v) == 1}
    frame = frame.copy()
    filled = 0
    vendors = frame["vendor"].tolist()
    for i, (market, title, vendor) in enumerate(
        frame[["market", "title", "vendor"]].itertuples(index=False)
    ):
        if vendor is None:
            found = unique.get((market, title_key(title)))
            if found is not None:
                vendors[i] = found
                filled += 1
    frame["vendor"] = pd.Series(vendors, index=frame.index, dtype=object)
    return frame, filled


GIVEN_LABEL = "given_label"


def apply_policy(
    frame: pd.DataFrame, policy: LabelPolicy, *, read_titles: bool = True
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Label every row by the policy (an explicit ``label`` column wins); drop exclusions.

    Returns the labelled rows and the number excluded per reason. The row's own label (None
    for most) is kept as ``given_label``, so a later pass can label the rows again. With
    ``read_titles=False`` only the rows' origins decide: rules that read the title are
    skipped (see :func:`data.build.prepare`, which applies them after splitting).
    """
    labels, rules = [], []
    dropped: Counter[str] = Counter()
    for source, market, kind, category, title, given in frame[
        ["source", "market", "kind", "category", "title", "label"]
    ].itertuples(index=False):
        if given is not None:
            if given not in policy.labels.names:
                labels.append(EXCLUDE)
                rules.append(-1)
                dropped[f"explicit label {given!r} not in policy classes"] += 1
                continue
            labels.append(given)
            rules.append(-1)
            continue
        label, rule = policy.label_for(source, market, kind, category,
                                       title if read_titles else None)
        labels.append(label)
        rules.append(-2 if rule is None else rule)
        if label == EXCLUDE:
            dropped[f"{_exclusion_reason(policy, rule)} ({source})"] += 1
    frame = frame.copy()
    frame[GIVEN_LABEL] = frame["label"]
    frame["label"] = pd.Series(labels, index=frame.index, dtype=object)
    frame["rule"] = rules
    kept = frame.loc[frame["label"] != EXCLUDE].reset_index(drop=True)
    return kept, dict(sorted(dropped.items()))


def _exclusion_reason(policy: LabelPolicy, rule: int | None) -> str:
    if rule is None:
        return "no policy rule matches"
    note = policy.rules[rule].note
    return f"excluded by rule #{rule + 1}" + (f": {note}" if note else "")

"""Training-time augmentation: obfuscated copies of training rows.

``model.text.normalise`` undoes what can be undone without guessing (invisible characters,
look-alike letters, spelled-out words, decoration, leetspeak inside words). The rest —
typos, leetspeak at word edges, boilerplate — the model has to learn to see through, so a
share of the training rows is copied with one perturbation from
``training.suite.perturb`` each.

    extra = augment_training_rows(train[["text", "label", "group"]], seed=0, fraction=0.2)
    train = pd.concat([train, extra], ignore_index=True)
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from model.text import SEPARATOR, listing_text, normalise
from training.suite.perturb import PERTURBATIONS

# Perturbations worth training on: the ones normalisation cannot (fully) undo. Homoglyphs,
# zero-width characters and spelled-out words normalise back to the original text, and the
# vectorisers lower-case, so copies made with those would only duplicate rows.
# Typos get twice the share: no normalisation can undo them, and the model's small classes
# (a few hundred weapons listings) lose most F1 to them.
AUGMENTATIONS = ("leetspeak", "typos", "boilerplate", "typos", "decoration")
_ATTEMPTS = 3
# Most obfuscated copies per row that the small-class floor may add, so that a class of a
# few hundred listings is never mostly copies of them.
MAX_COPIES_PER_ROW = 3


def check_description_dropout(share: float) -> None:
    """Refuse a description-dropout share outside [0, 1] (the trainers' options check it
    before minutes of data loading)."""
    if not 0 <= share <= 1:
        raise ValueError(f"description_dropout must be within [0, 1], got {share}")


def drop_descriptions(frame: pd.DataFrame, texts: list[str], share: float,
                      seed: int) -> list[str]:
    """``texts`` with ``share`` of the listings that have a description shown by title alone.

    Shop catalogues have descriptions far more often than darknet titles do (in the shared
    data's training split, 29% of benign rows against 10% of illicit ones), and the markets
    and shops a model has never seen are mostly headings, so without this a model can learn
    "has a description" as a sign of a lawful listing. ``frame`` gives each text's ``title``
    and ``description``; the title-only text is prepared as at serving.
    """
    check_description_dropout(share)
    if share == 0 or frame.empty:
        return texts
    rng = np.random.default_rng(seed)
    described = frame["description"].fillna("").astype(str).str.strip().astype(bool).to_numpy()
    drop = described & (rng.random(len(frame)) < share)
    return [listing_text(t, None) if d else x
            for t, x, d in zip(frame["title"], texts, drop, strict=True)]


def augment_text(text: str, name: str, rng: random.Random) -> str:
    """Perturb a prepared text (``title | description``) and prepare it again.

    Framing perturbations (decoration, boilerplate) go on the title only, as at test time.
    """
    fn = PERTURBATIONS[name]
    title, sep, body = text.partition(SEPARATOR)
    title = fn(title, rng)
    if body and name not in ("decoration", "boilerplate"):
        body = fn(body, rng)
    title = normalise(title)
    return f"{title}{sep}{normalise(body)}" if sep else title


def check_copy_source(frame: pd.DataFrame, fraction: float, what: str) -> None:
    """Training copies need prepared text, label and group, and a sane fraction."""
    missing = {"text", "label", "group"} - set(frame.columns)
    if missing:
        raise ValueError(f"{what} needs columns {sorted(missing)}")
    if not 0.0 <= fraction <= 10.0:
        raise ValueError(f"{what} fraction must be within [0, 10], got {fraction}")


def pick_rows(n_rows: int, fraction: float, seed: int) -> np.ndarray:
    """``round(fraction × n_rows)`` row indices drawn at random (with replacement above 1)."""
    n = round(fraction * n_rows)
    if n == 0 or n_rows == 0:
        return np.zeros(0, dtype=np.int64)
    return np.random.default_rng(seed).choice(n_rows, size=n, replace=n > n_rows)


def small_class_copies(frame: pd.DataFrame, seed: int, fraction: float,
                       floor: int) -> pd.DataFrame:
    """EXTRA obfuscated copies for the small classes, on top of :func:`augment_training_rows`.

    A class whose ``fraction`` share of copies comes to fewer than ``floor`` rows gets more,
    up to ``floor`` copies in all and never more than ``MAX_COPIES_PER_ROW`` per row. The
    scarce classes (a few hundred weapons and stolen-data listings) gain a denser set of
    misspelt and disguised variants, which is what their recall and their robustness to
    typos lacked; the large classes are left as they are. Returns columns text, label, group.
    """
    check_copy_source(frame, fraction, "small-class augmentation")
    if floor < 0:
        raise ValueError(f"the augmentation floor must be non-negative, got {floor}")
    extra = []
    for k, (_, rows) in enumerate(frame.groupby("label")):  # labels in sorted order
        wanted = min(floor, MAX_COPIES_PER_ROW * len(rows)) - round(fraction * len(rows))
        if wanted > 0:
            extra.append(augment_training_rows(rows, seed=seed + 1000 + k,
                                               fraction=wanted / len(rows)))
    return pd.concat(extra, ignore_index=True) if extra else _no_copies()


def _no_copies() -> pd.DataFrame:
    return pd.DataFrame({"text": pd.Series(dtype=str), "label": pd.Series(dtype=str),
                         "group": pd.Series(dtype=str)})


def augment_training_rows(frame: pd.DataFrame, seed: int, fraction: float) -> pd.DataFrame:
    """EXTRA rows: about ``round(fraction × len(frame))`` perturbed copies of random rows.

    ``frame`` needs columns text (prepared), label and group; each copy keeps its source
    row's label and group, so a grouped split or grouped calibration fold never separates a
    listing from its copy. Perturbations are dealt round-robin (``AUGMENTATIONS``, where
    typos appear twice) over a shuffled sample; a copy that normalises back to its source text is
    re-drawn with the next seed (up to a few times) and dropped if it still does, so no row
    is merely duplicated. Returns columns text, label, group.
    """
    check_copy_source(frame, fraction, "augmentation")
    picks = pick_rows(len(frame), fraction, seed)
    if len(picks) == 0:
        return _no_copies()
    texts, labels, groups = [], [], []
    source = frame.reset_index(drop=True)
    for k, i in enumerate(picks):
        name = AUGMENTATIONS[k % len(AUGMENTATIONS)]
        original = str(source.at[i, "text"])
        for attempt in range(_ATTEMPTS):
            text = augment_text(original, name, random.Random(f"{seed}:augment:{k}:{attempt}"))
            if text != original:
                break
        else:
            continue
        texts.append(text)
        labels.append(source.at[i, "label"])
        groups.append(source.at[i, "group"])
    return pd.DataFrame({"text": texts, "label": labels, "group": groups})

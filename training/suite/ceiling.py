"""Is a model behind out of domain because of where it cuts, or because of how it ranks?

A split's macro-F1 mixes two things: how well a model's scores put each class's listings
above the rest (its ranking), and where its decisions fall between the classes (the class
offsets and thresholds it fitted on validation, in domain). A model that only cuts in the
wrong place out of domain could be mended by a better-chosen cut: a validation set out of
domain, per-market label-shift adaptation, another cascade cut. One that ranks the listings
worse cannot be mended by any cut. Two figures tell the cases apart:

- the **offset ceiling**: macro-F1 after class offsets fitted on the split itself, and again
  with offsets fitted per market (about the most any per-market adaptation could give);
- **average precision** of each class present, against the rest: threshold-free.

Both read the split's labels, so they are ceilings for comparing models, never figures a
deployed model reaches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

from training.metrics import macro_f1_over
from training.suite.common import rounded

OFFSET_GRID = np.linspace(-6.0, 6.0, 49)  # log-odds added to one class at a time
SEARCH_ROUNDS = 3


def ceiling_predictions(y: np.ndarray, proba: np.ndarray, present: list[int]) -> np.ndarray:
    """The labels ``proba`` gives after class offsets fitted for macro-F1 (over ``present``)
    on ``y`` itself.

    A coordinate search from no offset: every class, present in ``y`` or not, may move by
    :data:`OFFSET_GRID`, one at a time, over :data:`SEARCH_ROUNDS` rounds. (Training's own
    search, :func:`training.transformer.prior.fit_class_bias`, moves only the classes
    validation holds; a ceiling must also be free to push down a class a market lacks.)
    """
    n_classes = proba.shape[1]
    log_proba = np.log(np.clip(proba, 1e-12, 1.0))
    bias = np.zeros(n_classes)
    best = macro_f1_over(y, log_proba.argmax(axis=1), present, n_classes)
    for _ in range(SEARCH_ROUNDS):
        improved = False
        for c in range(n_classes):
            for value in OFFSET_GRID:
                trial = bias.copy()
                trial[c] = value
                score = macro_f1_over(y, (log_proba + trial).argmax(axis=1), present, n_classes)
                if score > best + 1e-12:
                    best, bias, improved = score, trial, True
        if not improved:
            break
    return (log_proba + bias).argmax(axis=1)


def per_market_ceiling_predictions(y: np.ndarray, proba: np.ndarray, present: list[int],
                                   markets: np.ndarray) -> np.ndarray:
    """:func:`ceiling_predictions` fitted on each market's rows alone (for the classes
    present in the whole split, so a market of one class pushes the others down)."""
    predictions = np.empty(len(y), dtype=np.int64)
    for market in np.unique(markets):
        rows = markets == market
        predictions[rows] = ceiling_predictions(y[rows], proba[rows], present)
    return predictions


def cut_free_figures(y: np.ndarray, proba: np.ndarray, names: tuple[str, ...],
                     markets: np.ndarray | None = None) -> dict[str, Any]:
    """Macro-F1 as served, its offset ceilings and each present class's average precision.

    ``proba`` is what the model serves for the split's rows (one per row of ``y``).
    """
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=np.float64)
    if len(y) == 0:
        raise ValueError("cut-free figures need at least one row")
    if proba.shape != (len(y), len(names)):
        raise ValueError(f"expected probabilities of shape {(len(y), len(names))}, "
                         f"got {proba.shape}")
    present = sorted(int(c) for c in np.unique(y))
    n_classes = len(names)
    precision = {names[c]: float(average_precision_score(y == c, proba[:, c]))
                 for c in present}
    ceiling = ceiling_predictions(y, proba, present)
    figures: dict[str, Any] = {
        "macro_f1_served": rounded(macro_f1_over(y, proba.argmax(axis=1), present, n_classes)),
        "macro_f1_offset_ceiling": rounded(macro_f1_over(y, ceiling, present, n_classes)),
        "mean_average_precision": rounded(float(np.mean(list(precision.values())))),
        "average_precision": {name: rounded(value) for name, value in precision.items()},
    }
    if markets is not None:
        per_market = per_market_ceiling_predictions(y, proba, present, np.asarray(markets))
        figures["macro_f1_per_market_ceiling"] = rounded(
            macro_f1_over(y, per_market, present, n_classes))
    return figures


def figure_keys(figures: dict[str, Any]) -> list[str]:
    """The names of the figures in ``figures``, one per class for average precision
    (``average_precision.drugs``), in the order reports give them."""
    keys = [key for key in ("macro_f1_served", "macro_f1_offset_ceiling",
                            "macro_f1_per_market_ceiling", "mean_average_precision")
            if key in figures]
    return keys + [f"average_precision.{name}" for name in figures["average_precision"]]


def figure(figures: dict[str, Any], key: str) -> float | None:
    """The figure :func:`figure_keys` names ``key`` (None where ``figures`` lacks it)."""
    head, _, name = key.partition(".")
    value = figures.get(head)
    return value.get(name) if name and isinstance(value, dict) else value


def compared_figures(figures_a: dict[str, Any], figures_b: dict[str, Any]
                     ) -> list[tuple[str, float | None, float | None]]:
    """``(key, A's figure, B's figure)`` for every figure of A, in report order."""
    return [(key, figure(figures_a, key), figure(figures_b, key))
            for key in figure_keys(figures_a)]


def summary_lines(figures_a: dict[str, Any], figures_b: dict[str, Any],
                  split: str) -> list[str]:
    """One line per figure of one split: A, B and B − A."""
    return [f"  {split + ': ' + key:42s} {a:7.4f} {b:7.4f} {b - a:+8.4f}"
            for key, a, b in compared_figures(figures_a, figures_b)
            if a is not None and b is not None]

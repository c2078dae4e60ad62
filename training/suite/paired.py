"""Paired differences between two bundles on the same rows (``contraband evaluate --compare``).

A split's macro-F1 interval is wide (the unseen markets' is eight points) because a few
vendors write most of a small class: a draw of vendors moves every model's figure together.
Whether B is better than A is a question about their difference on the same rows, so each
bootstrap draw here scores both bundles on the same resampled vendors. Where the two err on
much the same vendors, the difference's interval is far narrower than either model's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from model import Classifier
from training.metrics import bootstrap_macro_f1_difference, groups_of, to_ids
from training.suite.ceiling import cut_free_figures
from training.suite.ceiling import summary_lines as cut_free_lines
from training.suite.common import EVALUATION_SPLITS, OUT_OF_DOMAIN_SPLITS, rounded, split_proba

PAIRED_SPLITS = EVALUATION_SPLITS
PER_MARKET_SPLITS = OUT_OF_DOMAIN_SPLITS  # each of their markets gets its own row too
MIN_MARKET_ROWS = 100


def check_same_labels(a: Classifier, b: Classifier) -> None:
    """Both bundles must name the same classes in the same order to be compared row by row."""
    if tuple(a.labels.names) != tuple(b.labels.names):
        raise ValueError(
            f"{a.version} and {b.version} have different classes "
            f"({', '.join(a.labels.names)} against {', '.join(b.labels.names)}): a paired "
            "comparison needs both to predict the same label set")


def paired_split(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, names: tuple[str, ...],
                 groups: np.ndarray | None = None, seed: int = 0,
                 markets: np.ndarray | None = None, negative: int = 0) -> dict[str, Any]:
    """Macro-F1 of A and of B on one split, B − A with its paired 95% interval, the share of
    bootstrap draws in which B is ahead, and the rows only one of them gets right.

    With ``markets``, the same for each market of at least ``MIN_MARKET_ROWS`` rows
    (``per_market``), with the share of its lawful rows (class ``negative``) each bundle
    labels illicit.
    """
    from sklearn.metrics import f1_score

    everything = list(range(len(names)))
    present = sorted(int(c) for c in np.unique(y))
    f1_a = f1_score(y, pred_a, labels=everything, average=None, zero_division=0)
    f1_b = f1_score(y, pred_b, labels=everything, average=None, zero_division=0)
    macro_a = float(np.mean(f1_a[present])) if present else 0.0
    macro_b = float(np.mean(f1_b[present])) if present else 0.0
    bootstrap = bootstrap_macro_f1_difference(y, pred_a, pred_b, present, len(names), groups,
                                              seed=seed)
    interval, b_ahead = bootstrap if bootstrap else (None, None)
    right_a, right_b = pred_a == y, pred_b == y
    entry: dict[str, Any] = {
        "rows": len(y),
        "macro_f1_a": rounded(macro_a),
        "macro_f1_b": rounded(macro_b),
        "b_minus_a": rounded(macro_b - macro_a),
        "b_minus_a_ci95": interval,
        "b_ahead_share": None if b_ahead is None else rounded(b_ahead),
        "only_a_right": int((right_a & ~right_b).sum()),
        "only_b_right": int((right_b & ~right_a).sum()),
        "per_class_f1_b_minus_a": {
            names[i]: rounded(f1_b[i] - f1_a[i]) for i in present},
        "resampled": "vendors" if groups is not None else "rows",
    }
    lawful = y == negative
    if lawful.any():
        entry["lawful_flagged_a"] = rounded((pred_a[lawful] != negative).mean())
        entry["lawful_flagged_b"] = rounded((pred_b[lawful] != negative).mean())
    if markets is not None:
        entry["per_market"] = {}
        for market in sorted(set(markets.tolist())):
            rows = markets == market
            if rows.sum() >= MIN_MARKET_ROWS:
                entry["per_market"][str(market)] = paired_split(
                    y[rows], pred_a[rows], pred_b[rows], names,
                    None if groups is None else groups[rows], seed, negative=negative)
    return entry


def paired_comparison(a: Classifier, b: Classifier, frames: dict[str, pd.DataFrame],
                      splits: tuple[str, ...] = PAIRED_SPLITS) -> dict[str, Any]:
    """:func:`paired_split` for every split of ``splits`` present in ``frames`` (per market
    too on :data:`PER_MARKET_SPLITS`); each bundle scores each split as it is served, one
    listing at a time.

    On the out-of-domain splits each entry also holds ``cut_free``: both bundles' offset
    ceilings and average precisions (:mod:`training.suite.ceiling`), which say whether the
    one behind there cuts in the wrong place or ranks the listings worse.
    """
    check_same_labels(a, b)
    names = tuple(a.labels.names)
    negative = a.labels.label2id[a.labels.negative]
    result: dict[str, Any] = {}
    for split in splits:
        frame = frames.get(split)
        if frame is None or frame.empty:
            continue
        y = to_ids(frame["label"], a.labels)
        proba_a, proba_b = split_proba(a, frame), split_proba(b, frame)
        markets = (frame["market"].astype(str).to_numpy()
                   if split in PER_MARKET_SPLITS and "market" in frame.columns else None)
        result[split] = paired_split(y, proba_a.argmax(axis=1), proba_b.argmax(axis=1), names,
                                     groups_of(frame), negative=negative, markets=markets)
        if split in PER_MARKET_SPLITS:
            result[split]["cut_free"] = {
                side: cut_free_figures(y, proba, names, markets)
                for side, proba in (("a", proba_a), ("b", proba_b))}
    return result


def summary_lines(paired: dict[str, Any]) -> list[str]:
    """One line per split (and per market of the out-of-domain splits): A, B, B − A
    [interval], share of draws with B ahead."""
    lines = [f"{'paired macro-F1 (same rows)':28s} {'A':>7s} {'B':>7s} {'B-A':>8s} "
             f"{'95% interval':>19s} {'B ahead':>8s}"]
    for split, entry in paired.items():
        lines.append(_line(split, entry))
        lines += [_line(f"  {market}", e) for market, e in entry.get("per_market", {}).items()]
    cut_free = [(split, entry["cut_free"]) for split, entry in paired.items()
                if "cut_free" in entry]
    if cut_free:
        lines += ["", f"{'cut or ranking (ceilings from the labels)':44s} {'A':>7s} {'B':>7s} "
                      f"{'B-A':>8s}"]
        for split, figures in cut_free:
            lines += cut_free_lines(figures["a"], figures["b"], split)
    return lines


def _line(name: str, entry: dict[str, Any]) -> str:
    low, high = entry["b_minus_a_ci95"] or (float("nan"), float("nan"))
    ahead = entry["b_ahead_share"]
    return (f"{name:28s} {entry['macro_f1_a']:7.4f} {entry['macro_f1_b']:7.4f} "
            f"{entry['b_minus_a']:+8.4f} [{low:+.4f}, {high:+.4f}] "
            f"{float('nan') if ahead is None else ahead:8.3f}")

"""Per-class decision thresholds and the allow / review / block decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model.labels import LabelSet

NEVER = 1.01  # a threshold no probability reaches: the class never triggers that action
BLOCK, REVIEW, ALLOW = "block", "review", "allow"


@dataclass(frozen=True)
class ClassThresholds:
    block: float
    review: float

    def __post_init__(self) -> None:
        for name in ("block", "review"):
            value = getattr(self, name)
            if not 0.0 <= value <= NEVER:
                raise ValueError(f"{name} threshold must be within [0, {NEVER}], got {value}")
        if self.review > self.block:
            raise ValueError(f"review threshold {self.review} is above block {self.block}")

    def to_dict(self) -> dict[str, float]:
        return {"block": self.block, "review": self.review}


def parse_thresholds(
    raw: Mapping[str, Mapping[str, float]], labels: LabelSet
) -> dict[str, ClassThresholds]:
    """Validate a ``{class: {"block": x, "review": y}}`` mapping against ``labels``."""
    unknown = set(raw) - set(labels.illicit)
    if unknown:
        raise ValueError(
            f"thresholds given for {sorted(unknown)}, which are not illicit classes "
            f"{list(labels.illicit)}"
        )
    result = {}
    for name in labels.illicit:
        entry = raw.get(name, {"block": NEVER, "review": 0.5})
        result[name] = ClassThresholds(float(entry["block"]), float(entry["review"]))
    return result


def threshold_for_precision(scores: np.ndarray, truth: np.ndarray, precision: float) -> float:
    """The lowest score cut whose precision on (``scores``, ``truth``) is at least ``precision``.

    Lowest, so recall is as high as the precision target allows; :data:`NEVER` where no cut
    reaches the target.
    """
    order = np.argsort(-scores, kind="stable")
    sorted_scores, hits = scores[order], truth[order].astype(np.float64)
    if hits.sum() == 0:
        return NEVER
    cum_precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    # only cut between distinct scores
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    ok = np.flatnonzero((cum_precision >= precision) & last_of_run)
    return float(sorted_scores[ok[-1]]) if len(ok) else NEVER


def threshold_for_recall(scores: np.ndarray, truth: np.ndarray, recall: float) -> float:
    """The highest score cut that still keeps at least ``recall`` of the positives."""
    positives = np.sort(scores[truth.astype(bool)])[::-1]
    if len(positives) == 0:
        return NEVER
    k = max(int(np.ceil(recall * len(positives))), 1)
    return float(positives[k - 1])


def choose_thresholds(
    proba: np.ndarray,
    y: np.ndarray,
    labels: LabelSet,
    *,
    block_precision: float = 0.95,
    review_recall: float = 0.95,
    block_floor: float = 0.5,
    review_floor: float = 0.2,
) -> dict[str, ClassThresholds]:
    """Per illicit class: block at the target precision, review at the target recall.

    The floors keep thresholds sane when validation data is easier than the real stream:
    in-domain validation can reach 95% precision at a drugs score of 0.05, which on an
    unseen shop would block every listing with a faint drug signal. A listing is never
    blocked below ``block_floor`` or sent to review below ``review_floor``.
    """
    if not 0 < block_precision <= 1 or not 0 < review_recall <= 1:
        raise ValueError("block_precision and review_recall must be within (0, 1]")
    if not 0 <= review_floor <= block_floor <= 1:
        raise ValueError("floors must satisfy 0 <= review_floor <= block_floor <= 1")
    result = {}
    for name in labels.illicit:
        column = labels.index(name)
        truth = y == column
        block = max(threshold_for_precision(proba[:, column], truth, block_precision),
                    block_floor)
        review = min(max(threshold_for_recall(proba[:, column], truth, review_recall),
                         review_floor), block)
        # stored exactly: rounding could lift a cut above the score it was chosen at, and
        # the listing at the cut would then miss the action its target promised
        result[name] = ClassThresholds(block=float(block), review=float(review))
    return result


def decide(
    proba: np.ndarray,
    labels: LabelSet,
    thresholds: Mapping[str, ClassThresholds],
    *,
    with_reasons: bool = True,
) -> tuple[list[str], list[str]]:
    """Decision and a one-line reason for each row of ``proba``.

    Block when any illicit class reaches its block threshold, review when any reaches its
    review threshold, allow otherwise; the reason names the class and numbers that decided.
    Vectorised: batch scans decide millions of rows (``with_reasons=False`` skips the text).
    """
    if len(proba) == 0:
        return [], []
    illicit: Sequence[str] = labels.illicit
    columns = [labels.index(n) for n in illicit]
    block = np.array([thresholds[n].block for n in illicit])
    review = np.array([thresholds[n].review for n in illicit])
    scores = np.asarray(proba, dtype=np.float64)[:, columns]
    block_hit = scores >= block
    review_hit = scores >= review
    blocked = block_hit.any(axis=1)
    reviewed = review_hit.any(axis=1) & ~blocked
    # the deciding class: highest score among the classes that crossed, else the closest
    deciding = np.where(
        blocked, np.argmax(np.where(block_hit, scores, -1), axis=1),
        np.where(reviewed, np.argmax(np.where(review_hit, scores, -1), axis=1),
                 np.argmax(scores - review, axis=1)),
    )
    decisions = np.where(blocked, BLOCK, np.where(reviewed, REVIEW, ALLOW)).tolist()
    if not with_reasons:
        return decisions, [""] * len(decisions)
    reasons = []
    for decision, i, row in zip(decisions, deciding.tolist(), scores, strict=True):
        if decision == BLOCK:
            reasons.append(f"{illicit[i]} score {row[i]:.3f} ≥ block threshold {block[i]:.3f}")
        elif decision == REVIEW:
            reasons.append(f"{illicit[i]} score {row[i]:.3f} ≥ review threshold {review[i]:.3f}")
        else:
            reasons.append(
                f"no illicit class reaches review; closest {illicit[i]} score {row[i]:.3f} "
                f"< {review[i]:.3f}"
            )
    return decisions, reasons

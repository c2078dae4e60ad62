import numpy as np
import pytest

from model.labels import LabelSet
from model.thresholds import (
    NEVER,
    ClassThresholds,
    choose_thresholds,
    decide,
    threshold_for_precision,
    threshold_for_recall,
)

LABELS = LabelSet.from_names(["benign", "drugs", "weapons"])


def test_threshold_for_precision_is_the_lowest_cut_reaching_it():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    truth = np.array([1, 1, 0, 1, 0])
    assert threshold_for_precision(scores, truth, 1.0) == 0.8
    assert threshold_for_precision(scores, truth, 0.75) == 0.6
    assert threshold_for_precision(scores, np.zeros(5), 0.9) == NEVER


def test_threshold_for_recall_keeps_the_share_of_positives():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    truth = np.array([1, 1, 0, 1, 0])
    assert threshold_for_recall(scores, truth, 1.0) == 0.6
    assert threshold_for_recall(scores, truth, 0.5) == 0.8


def test_floors_apply_and_review_never_exceeds_block():
    proba = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.1, 0.05, 0.85], [0.5, 0.3, 0.2]])
    y = np.array([0, 1, 2, 1])
    chosen = choose_thresholds(proba, y, LABELS, block_precision=0.9, review_recall=1.0,
                               block_floor=0.5, review_floor=0.1)
    assert chosen["drugs"].block == 0.5  # 0.3 reaches the precision; the floor lifts it
    assert chosen["drugs"].review == 0.3
    assert chosen["weapons"].block == 0.85
    assert chosen["weapons"].review == 0.85
    floored = choose_thresholds(proba, y, LABELS, block_floor=0.95, review_floor=0.9)
    assert floored["drugs"].block == 0.95 and floored["drugs"].review == 0.9


def test_chosen_thresholds_keep_the_promised_rows():
    """A score with more than six decimals at the cut still reaches the stored threshold."""
    proba = np.array([[0.1, 0.2500006, 0.6494], [0.6, 0.4, 0.0], [0.2, 0.8, 0.0],
                      [0.3, 0.7, 0.0], [0.9, 0.1, 0.0], [0.5, 0.5, 0.0]])
    y = np.array([1, 1, 1, 1, 0, 0])
    chosen = choose_thresholds(proba, y, LABELS, block_precision=1.0, review_recall=1.0,
                               block_floor=0.5, review_floor=0.2)
    decisions, _ = decide(proba, LABELS, chosen)
    assert decisions[0] == "review"  # every drugs row is reviewed, as review_recall=1 asks
    assert all(d != "allow" for d, truth in zip(decisions, y, strict=True) if truth == 1)


def test_decide_block_review_allow_with_reasons():
    thresholds = {"drugs": ClassThresholds(0.8, 0.4), "weapons": ClassThresholds(0.7, 0.3)}
    proba = np.array([[0.05, 0.9, 0.05], [0.5, 0.1, 0.4], [0.9, 0.05, 0.05]])
    decisions, reasons = decide(proba, LABELS, thresholds)
    assert decisions == ["block", "review", "allow"]
    assert reasons[0].startswith("drugs score 0.900 ≥ block")
    assert "weapons" in reasons[1]


def test_invalid_thresholds_are_refused():
    with pytest.raises(ValueError, match="above block"):
        ClassThresholds(block=0.3, review=0.5)
    with pytest.raises(ValueError, match="within"):
        ClassThresholds(block=2.0, review=0.5)


def test_decide_without_reasons_and_on_no_rows():
    thresholds = {"drugs": ClassThresholds(0.8, 0.4), "weapons": ClassThresholds(0.7, 0.3)}
    proba = np.array([[0.05, 0.9, 0.05], [0.5, 0.1, 0.4], [0.9, 0.05, 0.05]])
    decisions, reasons = decide(proba, LABELS, thresholds, with_reasons=False)
    assert decisions == ["block", "review", "allow"] and reasons == ["", "", ""]
    assert decide(np.zeros((0, 3)), LABELS, thresholds) == ([], [])

"""Word occlusion (``model.occlusion``), the explanation every model kind shares."""

from __future__ import annotations

import numpy as np
import pytest

from model.occlusion import class_log_odds, occlusion_contributions


def count_of(word: str):
    """A score that counts ``word``: removing it lowers the score by exactly 1."""
    return lambda texts: np.array([t.split().count(word) for t in texts], dtype=float)


def test_each_word_gets_the_score_it_takes_away():
    got = occlusion_contributions("glock 19 glock mags", count_of("glock"))
    assert got[0] == ("glock", 2.0)  # two occurrences, summed
    assert dict(got) == {"glock": 2.0, "19": 0.0, "mags": 0.0}


def test_readable_words_limits_what_is_scored():
    seen: list[str] = []

    def score(texts):
        seen.extend(texts)
        return np.zeros(len(texts))

    got = occlusion_contributions("a b c d", score, readable_words=2)
    assert [w for w, _ in got] == ["a", "b"] and seen == ["a b c d", "b c d", "a c d"]
    assert occlusion_contributions("a b", score, readable_words=0) == []
    assert occlusion_contributions("   ", score) == []
    with pytest.raises(ValueError, match="non-negative"):
        occlusion_contributions("a b", score, readable_words=-1)


def test_a_scorer_returning_the_wrong_count_is_an_error():
    with pytest.raises(ValueError, match="3 texts"):
        occlusion_contributions("a b", lambda texts: np.zeros(2))


def test_log_odds_are_finite_at_the_edges():
    proba = np.array([[0.5, 0.5], [0.0, 1.0], [0.2, 0.8]])
    odds = class_log_odds(proba, 1)
    assert odds[0] == 0.0 and np.isfinite(odds).all() and odds[1] > 20
    assert odds[2] == pytest.approx(np.log(4.0))

"""Word occlusion: what each word of a listing does to one class's score.

A word's contribution is the class score of the whole text minus the score with that one
word left out. It needs nothing from the model but a way to score texts, so every model kind
explains itself the same way: the linear baseline through its margin (exact for what it does:
its word and character n-grams overlap, so per-feature coefficients would double count), the
transformer and the cascade through the log-odds of their served probability.

All the variants of a listing are scored in one call, which the model kinds run in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

MARGIN = "margin"
LOG_ODDS = "log-odds"

# Probabilities are clipped this far from 0 and 1 before the log-odds, so a saturated score
# gives a large finite contribution instead of an infinite one.
_EPSILON = 1e-12


def occlusion_contributions(
    text: str,
    class_scores: Callable[[Sequence[str]], np.ndarray],
    *,
    readable_words: int | None = None,
) -> list[tuple[str, float]]:
    """``(word, contribution)`` pairs for ``text``, the largest absolute contribution first.

    ``class_scores`` maps texts to one score each (higher: more of the class). The words are
    ``text.split()``; a word that occurs twice gets the sum of both occurrences' effects.
    ``readable_words`` is how many leading words the model reads at all (a transformer
    truncates long listings): the words after them cannot change the score, so they are not
    scored and not listed.
    """
    words = text.split()
    if readable_words is not None:
        if readable_words < 0:
            raise ValueError(f"readable_words must be non-negative, got {readable_words}")
        occluded = min(readable_words, len(words))
    else:
        occluded = len(words)
    if occluded == 0:
        return []
    variants = [text] + [" ".join(words[:i] + words[i + 1 :]) for i in range(occluded)]
    scores = np.asarray(class_scores(variants), dtype=np.float64).reshape(-1)
    if scores.shape != (len(variants),):
        raise ValueError(f"class_scores returned {scores.shape[0]} scores for "
                         f"{len(variants)} texts")
    contributions: dict[str, float] = {}
    for word, without in zip(words[:occluded], scores[1:], strict=True):
        contributions[word] = contributions.get(word, 0.0) + float(scores[0] - without)
    return sorted(contributions.items(), key=lambda kv: -abs(kv[1]))


def log_odds_contributions(
    text: str,
    predict_proba: Callable[[Sequence[str]], np.ndarray],
    class_id: int,
    *,
    readable_words: int | None = None,
) -> list[tuple[str, float]]:
    """:func:`occlusion_contributions` on the log-odds of column ``class_id`` of
    ``predict_proba``: how the kinds that serve probabilities (transformer, cascade)
    explain."""
    return occlusion_contributions(
        text, lambda variants: class_log_odds(predict_proba(variants), class_id),
        readable_words=readable_words)


def class_log_odds(proba: np.ndarray, class_id: int) -> np.ndarray:
    """log(p / (1 - p)) of column ``class_id`` of a probability matrix, clipped to stay
    finite."""
    p = np.clip(np.asarray(proba, dtype=np.float64)[:, class_id], _EPSILON, 1.0 - _EPSILON)
    return np.log(p) - np.log1p(-p)

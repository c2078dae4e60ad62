"""Undo the class prior the fine-tuning sample taught the transformer.

The model is trained on a class-capped sample (3,000 drugs listings where the data has
~90,000; every weapons listing) with a class-weighted loss, so it learns a prior far from
the real one: on the full validation split it calls thousands of drugs listings weapons or
counterfeit. The standard label-shift correction adds log(real prior / training prior) to
the logits; the real prior is the validation split's, the training prior the sample's class
counts times the loss weights. From that start, each class's offset is then tuned on the
validation split for macro-F1 (a few rounds of one-class-at-a-time search), as the
decision thresholds are.
"""

from __future__ import annotations

import numpy as np

from training.transformer.metrics import macro_f1

SEARCH_SPAN = 3.0  # log-odds either side of the label-shift start
SEARCH_STEPS = 61
ROUNDS = 3


def effective_prior(y_train: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """The class prior the weighted loss saw: sample counts times loss weights, normalised."""
    mass = np.bincount(y_train, minlength=n_classes) * np.asarray(weights, dtype=np.float64)
    if mass.sum() <= 0:
        raise ValueError("the training sample is empty")
    return mass / mass.sum()


def shifted(proba: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``proba`` with ``bias`` added to the log-probabilities (= to the logits), renormalised."""
    scaled = proba * np.exp(bias - bias.max())
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_class_bias(proba: np.ndarray, y: np.ndarray, train_prior: np.ndarray) -> np.ndarray:
    """Per-class logit offsets for validation ``proba`` (from zero-offset logits).

    Starts at the label-shift correction log(validation prior / ``train_prior``) and keeps
    a change only when it raises validation macro-F1. Classes absent from validation keep
    the start (their offset cannot be judged); the first class is the reference (0).
    """
    n_classes = proba.shape[1]
    real = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = real > 0
    real = np.where(present, real / real.sum(), 1.0)
    train = np.clip(np.asarray(train_prior, dtype=np.float64), 1e-9, None)
    bias = np.where(present, np.log(real / train), 0.0)
    bias -= bias[0]
    best = macro_f1(y, shifted(proba, bias).argmax(axis=1))
    for _ in range(ROUNDS):
        improved = False
        for c in np.flatnonzero(present)[1:]:
            for value in bias[c] + np.linspace(-SEARCH_SPAN, SEARCH_SPAN, SEARCH_STEPS):
                trial = bias.copy()
                trial[c] = value
                score = macro_f1(y, shifted(proba, trial).argmax(axis=1))
                if score > best + 1e-9:
                    best, bias, improved = score, trial, True
        if not improved:
            break
    return bias

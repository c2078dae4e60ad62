"""Label-shift adaptation (model.priors): EM recovers a known class mix, inputs are checked."""

from __future__ import annotations

import numpy as np
import pytest

from model import BundleError
from model.priors import adapt_priors, prior_vector, source_prior

MEANS = np.array([0.0, 2.0, 4.0])  # one Gaussian per class, unit variance


def posteriors(x: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Exact Bayes posteriors of the three-Gaussian model under ``prior``: calibrated."""
    likelihood = np.exp(-0.5 * (x[:, None] - MEANS) ** 2)
    joint = likelihood * prior
    return joint / joint.sum(axis=1, keepdims=True)


def sample(prior: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(len(prior), size=n, p=prior)
    return rng.normal(MEANS[y], 1.0), y


def test_em_recovers_the_batch_mix_and_corrects_the_scores():
    source = np.array([1 / 3, 1 / 3, 1 / 3])
    target = np.array([0.8, 0.15, 0.05])
    x, y = sample(target, 20_000, seed=1)
    proba = posteriors(x, source)  # calibrated for the training mix, not the batch's
    result = adapt_priors(proba, source)
    assert result.converged
    np.testing.assert_allclose(result.prior, target, atol=0.02)
    # the corrected scores are the Bayes posteriors under the true mix
    np.testing.assert_allclose(result.proba, posteriors(x, target), atol=0.06)
    assert np.abs(proba - posteriors(x, target)).max() > 0.3  # which was far from them
    assert (result.proba.argmax(1) == y).mean() > (proba.argmax(1) == y).mean() + 0.02
    np.testing.assert_allclose(result.proba.sum(axis=1), 1.0)


def test_a_batch_with_the_training_mix_is_left_almost_alone():
    source = np.array([0.5, 0.3, 0.2])
    x, _ = sample(source, 20_000, seed=2)
    proba = posteriors(x, source)
    result = adapt_priors(proba, source)
    np.testing.assert_allclose(result.prior, source, atol=0.02)
    assert np.abs(result.proba - proba).max() < 0.06


def test_a_class_absent_from_the_batch_loses_borderline_rows_but_not_confident_ones():
    source = np.array([0.5, 0.5, 1e-9])
    source = source / source.sum()
    proba = np.array([[0.9, 0.1, 0.0]] * 300 + [[0.45, 0.55, 0.0], [0.001, 0.999, 0.0]])
    result = adapt_priors(proba, source)
    assert result.proba[-2].argmax() == 0  # the borderline row follows the batch
    assert result.proba[-1].argmax() == 1  # the confident one stands


def test_empty_batch_and_the_source_prior_helpers():
    result = adapt_priors(np.zeros((0, 3)), np.array([0.2, 0.3, 0.5]))
    assert result.proba.shape == (0, 3) and result.iterations == 0
    prior = source_prior(np.array([[0.2, 0.8], [0.6, 0.4]]), ["benign", "drugs"])
    assert prior == pytest.approx({"benign": 0.4, "drugs": 0.6})
    np.testing.assert_allclose(prior_vector({"drugs": 3, "benign": 1}, ["benign", "drugs"]),
                               [0.25, 0.75])


@pytest.mark.parametrize(("proba", "source", "message"), [
    (np.ones((2, 3)) / 3, np.array([0.5, 0.5]), "shape"),
    (np.array([[0.5, 0.6]]), np.array([0.5, 0.5]), "sum to 1"),
    (np.array([[np.nan, 1.0]]), np.array([0.5, 0.5]), "finite"),
    (np.array([[0.5, 0.5]]), np.array([1.0, 0.0]), "positive"),
])
def test_bad_inputs_are_refused(proba, source, message):
    with pytest.raises(ValueError, match=message):
        adapt_priors(proba, source)


def test_prior_vector_names_a_missing_class():
    with pytest.raises(ValueError, match="weapons"):
        prior_vector({"benign": 0.5}, ["benign", "weapons"])


def test_a_bundle_without_a_source_prior_says_so(tiny_classifier):
    with pytest.raises(BundleError, match="predates"):
        tiny_classifier.adapt_priors(np.full((1, 5), 0.2))

"""Label-shift adaptation (model.priors): EM and BBSE recover a known class mix, BBSE holds
where miscalibrated scores mislead EM, the bundle record, and inputs are checked."""

from __future__ import annotations

import numpy as np
import pytest

from model import BundleError
from model.priors import (
    adapt_priors,
    adapter,
    bbse_adapt,
    bbse_prior_interval,
    confusion_matrix,
    label_shift_record,
    prior_vector,
    recorded_validation_rows,
    source_prior,
    validation_confusion,
)

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


def confusion_of(prior: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The validation confusion matrix of the exact-posterior classifier on a sample drawn
    with ``prior`` (the mix it is calibrated to)."""
    x, y = sample(prior, n, seed)
    names = [str(i) for i in range(len(prior))]
    return confusion_matrix(validation_confusion(posteriors(x, prior), y, names), names)


def test_bbse_recovers_the_batch_mix_and_corrects_the_scores():
    source = np.array([1 / 3, 1 / 3, 1 / 3])
    target = np.array([0.8, 0.15, 0.05])
    confusion = confusion_of(source, 30_000, seed=3)
    x, y = sample(target, 20_000, seed=4)
    proba = posteriors(x, source)
    result = bbse_adapt(proba, confusion)
    assert result.method == "bbse" and result.converged and result.iterations == 1
    np.testing.assert_allclose(result.prior, target, atol=0.02)
    np.testing.assert_allclose(result.proba, posteriors(x, target), atol=0.06)
    assert (result.proba.argmax(1) == y).mean() > (proba.argmax(1) == y).mean() + 0.02
    np.testing.assert_allclose(result.proba.sum(axis=1), 1.0)


def test_bbse_interval_holds_the_estimate_and_narrows_with_the_batch():
    source = np.array([1 / 3, 1 / 3, 1 / 3])
    target = np.array([0.8, 0.15, 0.05])
    confusion = confusion_of(source, 30_000, seed=5)
    widths = []
    for n, seed in ((300, 6), (20_000, 7)):
        x, _ = sample(target, n, seed)
        proba = posteriors(x, source)
        low, high = bbse_prior_interval(proba, confusion)
        estimate = bbse_adapt(proba, confusion).prior
        assert (low <= estimate + 1e-9).all() and (estimate <= high + 1e-9).all()
        widths.append(high - low)
        again = bbse_prior_interval(proba, confusion)
        np.testing.assert_array_equal(again[0], low)  # seeded: the same interval again
    assert (widths[1] < widths[0] / 3).all()
    assert widths[1].max() < 0.05 and widths[0].max() > 0.05
    with pytest.raises(ValueError, match="rounds"):
        bbse_prior_interval(proba, confusion, rounds=1)


def test_bbse_interval_covers_the_validation_matrix_noise_when_told_its_size():
    """With a small validation split (300 listings) and a large batch, most of BBSE's error
    is the confusion matrix's; an interval that redraws only the batch's counts misses the
    true mix for most validation draws, one that also redraws the matrix covers it."""
    source = np.array([1 / 3, 1 / 3, 1 / 3])
    target = np.array([0.8, 0.15, 0.05])
    x, _ = sample(target, 20_000, seed=7)
    proba = posteriors(x, source)
    covered = {"batch only": 0, "batch and matrix": 0}
    for seed in range(100, 120):
        confusion = confusion_of(source, 300, seed=seed)
        for key, rows in (("batch only", None), ("batch and matrix", 300)):
            low, high = bbse_prior_interval(proba, confusion, validation_rows=rows)
            covered[key] += bool(((low <= target) & (target <= high)).all())
    assert covered["batch only"] <= 5 and covered["batch and matrix"] >= 18, covered
    # a matrix counted from very many listings adds next to nothing
    confusion = confusion_of(source, 300, seed=100)
    narrow = np.subtract(*bbse_prior_interval(proba, confusion)[::-1])
    huge = np.subtract(*bbse_prior_interval(proba, confusion, validation_rows=10**9)[::-1])
    np.testing.assert_allclose(huge, narrow, atol=0.005)
    with pytest.raises(ValueError, match="validation_rows"):
        bbse_prior_interval(proba, confusion, validation_rows=0)


def test_bbse_is_not_led_by_scores_that_are_wrong_out_of_domain():
    """A lawful market with a few listings unlike anything in training, which the model
    calls class 1 with almost no lawful score: EM rules class 1 out and hands their mass to
    class 2, whose estimate it then raises above the training share; BBSE counts predicted
    labels and keeps class 2 near zero (the mechanism of EXPERIMENTS.md section 13)."""
    source = np.array([0.45, 0.5, 0.025, 0.025])
    confusion = np.diag(source) * 0.95
    for j in range(4):
        confusion[(j + 1) % 4, j] += source[j] * 0.05
    batch = np.array([[0.97, 0.01, 0.01, 0.01]] * 970 + [[0.0005, 0.90, 0.05, 0.0495]] * 30)
    em = adapt_priors(batch, source)
    bbse = bbse_adapt(batch, confusion)
    assert em.prior[2] > source[2]
    assert bbse.prior[2] < 0.005 and bbse.prior[0] > 0.99
    assert bbse.proba[-1, 2] < em.proba[-1, 2] - 0.2


def test_bbse_keeps_a_class_validation_lacks_and_an_empty_batch():
    names = ["benign", "drugs", "weapons"]
    proba = np.array([[0.8, 0.15, 0.05], [0.1, 0.85, 0.05], [0.7, 0.2, 0.1], [0.2, 0.7, 0.1]])
    confusion = confusion_matrix(validation_confusion(proba, [0, 1, 0, 1], names), names)
    assert confusion[:, 2].sum() == 0  # no weapons listing in validation
    batch = np.array([[0.6, 0.3, 0.1]] * 9 + [[0.3, 0.6, 0.1]])
    result = bbse_adapt(batch, confusion)
    assert result.prior[2] == 0 and result.prior[0] == pytest.approx(0.9)
    weights = result.proba[0] / batch[0]
    assert weights[2] / weights[0] == pytest.approx(1 / (0.9 / 0.5))  # weapons kept at 1
    empty = bbse_adapt(np.zeros((0, 3)), confusion)
    assert empty.proba.shape == (0, 3) and empty.iterations == 0


def test_the_record_and_the_adapter_a_bundle_config_gives():
    names = ["benign", "drugs"]
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    record = label_shift_record(proba, [0, 1, 1, 1], names)
    assert record["validation_confusion"] == {"benign": {"benign": 0.25, "drugs": 0.25},
                                              "drugs": {"benign": 0.0, "drugs": 0.5}}
    assert record["source_prior"] == pytest.approx({"benign": 0.5, "drugs": 0.5})
    assert record["validation_rows"] == 4
    bbse = adapter("auto", record, names)
    assert bbse.method == "bbse" and bbse.interval is not None
    assert "validation matrix's (4 listings)" in bbse.interval_covers
    em = adapter("em", record, names)
    assert em.method == "em" and em.adapt(proba).method == "em" and em.interval is None
    old = adapter("auto", {"source_prior": record["source_prior"]}, names)
    assert old.method == "em"  # a bundle from before BBSE
    with pytest.raises(BundleError, match="no validation confusion matrix"):
        adapter("bbse", {"version": "old", "source_prior": record["source_prior"]}, names)
    with pytest.raises(ValueError, match="method must be one of"):
        adapter("median", record, names)
    with pytest.raises(BundleError, match="sum to 1"):
        adapter("bbse", {"validation_confusion": {"benign": {"benign": 2.0, "drugs": 0.0},
                                                  "drugs": {"benign": 0.0, "drugs": 0.0}}},
                names)


@pytest.mark.parametrize(("truth", "message"), [([0, 1, 1], "3 labels"), ([0, 1, 2, 0], "ids")])
def test_a_confusion_matrix_needs_one_class_id_per_row(truth, message):
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    with pytest.raises(ValueError, match=message):
        validation_confusion(proba, truth, ["benign", "drugs"])


@pytest.mark.parametrize(("config", "rows"), [
    ({"validation_rows": 17638, "metrics": {"validation": {"rows": 5}}}, 17638),
    ({"metrics": {"validation": {"rows": 17638}}}, 17638),  # a bundle from before the key
    ({"metrics": {"validation": {}}}, None),
    ({"validation_rows": 0}, None),
    ({"validation_rows": "many"}, None),
    ({"validation_rows": True}, None),
    ({}, None),
])
def test_recorded_validation_rows(config, rows):
    assert recorded_validation_rows(config) == rows


def test_an_interval_without_the_validation_size_says_it_covers_the_batch_only():
    names = ["benign", "drugs"]
    record = label_shift_record(np.array([[0.9, 0.1], [0.3, 0.7]]), [0, 1], names)
    del record["validation_rows"]
    estimator = adapter("bbse", record, names)
    assert "batch's counts only" in estimator.interval_covers
    low, high = estimator.interval(np.array([[0.8, 0.2]] * 50 + [[0.2, 0.8]] * 50))
    assert (low <= high).all()

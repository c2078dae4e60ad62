"""Small parts of the transformer kind: options, sampling, batching, cascade routing, cut."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from model.cascade import CascadeModel
from training.transformer import TransformerOptions, add_transformer_arguments, options_from_args
from training.transformer.cascade import choose_cut
from training.transformer.export import check_agreement
from training.transformer.finetune import (
    epoch_batches,
    learning_rate_schedule,
    probe_head_schedule,
)
from training.transformer.metrics import macro_f1
from training.transformer.sampling import capped_sample, class_weights, water_fill


def test_options_round_trip_through_argparse():
    parser = argparse.ArgumentParser()
    add_transformer_arguments(parser)
    args = parser.parse_args(["--max-length", "96", "--epochs", "3", "--resume",
                              "--base", "/models/x", "--no-progress", "--input", "title"])
    options = options_from_args(args)
    assert options.max_length == 96 and options.epochs == 3 and options.resume
    assert options.base == "/models/x" and options.input == "title" and not options.progress
    assert options_from_args(parser.parse_args([])) == TransformerOptions()


@pytest.mark.parametrize("bad", [{"device": "tpu"}, {"max_length": 4}, {"batch_size": 0},
                                 {"min_agreement": 1.5}, {"input": "body"}])
def test_options_reject_bad_values(bad):
    with pytest.raises(ValueError):
        TransformerOptions(**bad)


def test_learning_rate_schedule_without_a_probe_is_warm_up_then_linear_decay():
    schedule = learning_rate_schedule(100, TransformerOptions(warmup_ratio=0.1))
    assert [schedule(s) for s in (0, 9)] == [0.1, 1.0]
    assert schedule(10) == pytest.approx(1.0) and schedule(55) == pytest.approx(0.5)
    assert schedule(100) == 0.0


def test_linear_probe_schedule_holds_the_encoder_then_warms_it_up():
    """During the probe the encoder's factor is 0 and the head's is linear_probe_lr; after
    it both follow one warm-up (over the remaining steps) and decay to zero."""
    options = TransformerOptions(warmup_ratio=0.1, linear_probe_steps=20,
                                 linear_probe_lr=1e-3, learning_rate=1e-4)
    encoder = learning_rate_schedule(120, options)
    head = probe_head_schedule(encoder, options)
    assert {encoder(s) for s in range(20)} == {0.0}
    assert all(head(s) == pytest.approx(10.0) for s in range(20))
    assert encoder(20) == head(20) == pytest.approx(0.1)  # warm-up: 10 of the 100 left
    assert encoder(30) == pytest.approx(1.0) and encoder(120) == 0.0
    assert head(75) == encoder(75) == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [{"linear_probe_steps": -1}, {"linear_probe_lr": 0},
                                 {"linear_probe_steps": 50, "max_steps": 50}])
def test_linear_probe_options_are_checked(bad):
    with pytest.raises(ValueError, match="linear_probe"):
        TransformerOptions(**bad)


@pytest.mark.parametrize("bad", [{"average_from": 0}, {"average_from": 51, "max_steps": 50}])
def test_weight_averaging_options_are_checked(bad):
    with pytest.raises(ValueError, match="average_from"):
        TransformerOptions(**bad)


def test_average_from_reaches_the_options_from_the_command_line():
    parser = argparse.ArgumentParser()
    add_transformer_arguments(parser)
    assert options_from_args(parser.parse_args(["--average-from", "800"])).average_from == 800


def test_weight_average_is_the_running_mean_of_the_float_tensors():
    import torch

    from training.transformer.averaging import WeightAverage

    model = torch.nn.Linear(3, 2)
    model.register_buffer("calls", torch.tensor(0))  # not floating point: never averaged
    seen, average = [], WeightAverage()
    for i in range(5):
        with torch.no_grad():
            model.weight.add_(float(i))
        model.calls += 1
        seen.append(model.weight.detach().clone())
        average.update(model)
    average.apply_to(model)
    assert average.count == 5
    assert torch.allclose(model.weight, torch.stack(seen).mean(dim=0), atol=1e-6)
    assert int(model.calls) == 5
    restored = WeightAverage()
    restored.load_state_dict(average.state_dict())
    assert restored.count == 5 and torch.equal(restored.mean["weight"], average.mean["weight"])


def test_water_fill_keeps_small_sources_whole():
    assert water_fill({"big": 1000, "small": 10, "mid": 60}, 150) == {
        "big": 80, "small": 10, "mid": 60}
    assert water_fill({"a": 5, "b": 5}, 100) == {"a": 5, "b": 5}
    assert sum(water_fill({"a": 7, "b": 7, "c": 7}, 4).values()) == 4


def test_capped_sample_caps_each_class_and_spreads_sources():
    frame = pd.DataFrame({
        "label": ["drugs"] * 1000 + ["benign"] * 300,
        "source": ["agora"] * 990 + ["dream"] * 10 + ["bigbasket"] * 290 + ["toys"] * 10,
    })
    sample = capped_sample(frame, label_column="label", group_column="source",
                           caps={"drugs": 100, "benign": 50}, seed=0)
    counts = sample.groupby(["label", "source"]).size().to_dict()
    assert counts == {("benign", "bigbasket"): 40, ("benign", "toys"): 10,
                      ("drugs", "agora"): 90, ("drugs", "dream"): 10}
    with pytest.raises(ValueError, match="no cap"):
        capped_sample(frame, label_column="label", group_column="source", caps={}, seed=0)


def test_class_weights_favour_rare_classes():
    w = class_weights(np.array([0] * 90 + [1] * 10), 3, power=1.0)
    assert w[1] > w[0] and w[2] == 1.0
    assert np.allclose(class_weights(np.array([0, 1, 1]), 2, power=0.0), 1.0)


def test_epoch_batches_are_a_pure_function_of_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(1, 60, size=1000)
    a, b = epoch_batches(lengths, 32, 7, 3), epoch_batches(lengths, 32, 7, 3)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert sorted(np.concatenate(a).tolist()) == list(range(1000))
    assert not all((x == y).all() for x, y in zip(a, epoch_batches(lengths, 32, 7, 4),
                                                   strict=False))


def test_check_agreement_refuses_below_the_minimum():
    check_agreement({"label_agreement": 0.995, "rows": 200}, 0.99)
    with pytest.raises(ValueError, match="not saving it"):
        check_agreement({"label_agreement": 0.98, "rows": 200}, 0.99)


class _Fixed:
    """A stub kind answering fixed probabilities per text, recording what it was asked."""

    kind = "stub"

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table, self.asked = table, []

    def predict_proba(self, texts):
        self.asked.append(list(texts))
        return np.array([self.table[t] for t in texts])


def test_cascade_sends_only_unsure_listings_to_the_slow_model():
    fast = _Fixed({"sure": [0.95, 0.05], "unsure": [0.6, 0.4], "edge": [0.8, 0.2]})
    slow = _Fixed({"unsure": [0.1, 0.9], "edge": [0.3, 0.7]})
    cascade = CascadeModel(fast, slow, cut=0.8)
    proba = cascade.predict_proba(["sure", "unsure", "edge"])
    assert slow.asked == [["unsure"]]  # "edge" sits exactly at the cut: the baseline keeps it
    np.testing.assert_allclose(proba, [[0.95, 0.05], [0.1, 0.9], [0.8, 0.2]])
    assert cascade.predict_proba([]).shape[0] == 0
    with pytest.raises(ValueError):
        CascadeModel(fast, slow, cut=1.5)
    with pytest.raises(ValueError):
        CascadeModel(fast, slow, cut=0.8, slow_weight=0.0)


def test_cascade_blends_routed_scores_and_keeps_the_blend_in_its_bundle(tmp_path):
    fast = _Fixed({"sure": [0.95, 0.05], "unsure": [0.6, 0.4]})
    slow = _Fixed({"unsure": [0.1, 0.9]})
    cascade = CascadeModel(fast, slow, cut=0.8, slow_weight=0.5)
    np.testing.assert_allclose(cascade.predict_proba(["sure", "unsure"]),
                               [[0.95, 0.05], [0.35, 0.65]])


def test_choose_cut_prefers_a_blend_when_it_scores_better():
    # half the rows: the fast model right (0.6), the slow one wrong but unsure (0.45 for the
    # truth); the other half: the fast model wrong (0.4), the slow one right and sure (0.95).
    # Each alone gets half right; only the even blend gets every row.
    y = np.array([0, 1] * 50)
    first_half = np.arange(100) < 50
    truth_fast = np.where(first_half, 0.6, 0.4)
    truth_slow = np.where(first_half, 0.45, 0.95)
    onehot = y[:, None] == np.arange(2)
    fast = np.where(onehot, truth_fast[:, None], 1 - truth_fast[:, None])
    slow = np.where(onehot, truth_slow[:, None], 1 - truth_slow[:, None])
    choice = choose_cut(fast, slow, y, max_routed=1.0)
    assert choice["slow_weight"] == 0.5
    assert choice["validation_macro_f1"] == pytest.approx(1.0)
    assert choice["transformer_validation_macro_f1"] < 0.6


def test_choose_cut_routes_the_fewest_listings_for_the_best_score():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=600)
    confident = rng.random(600) < 0.7
    fast = np.full((600, 3), 0.2)
    # the fast model is right and sure on 70% of rows, wrong and unsure on the rest
    fast[np.arange(600), np.where(confident, y, (y + 1) % 3)] = np.where(confident, 0.9, 0.5)
    slow = np.full((600, 3), 0.1)
    slow[np.arange(600), y] = 0.8
    choice = choose_cut(fast, slow, y, max_routed=0.5)
    assert choice["validation_macro_f1"] == pytest.approx(1.0)
    assert choice["routed_validation"] == pytest.approx(1 - confident.mean(), abs=1e-5)
    assert 0.5 < choice["cut"] <= 0.9
    capped = choose_cut(fast, slow, y, max_routed=0.1)
    assert capped["routed_validation"] <= 0.1


def test_class_bias_undoes_a_training_prior_that_overcalls_the_rare_class():
    from training.transformer.prior import effective_prior, fit_class_bias, shifted

    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(int)  # 5% rare class in the real data
    # a model trained 50/50 (weighted): the rare class's score is inflated for everyone
    signal = np.where(y == 1, rng.normal(1.0, 1.0, 2000), rng.normal(-1.0, 1.0, 2000))
    logit_rare = signal + 1.5
    proba = np.c_[1 / (1 + np.exp(logit_rare)), 1 / (1 + np.exp(-logit_rare))]
    prior = effective_prior(np.array([0] * 100 + [1] * 10), np.array([1.0, 10.0]), 2)
    np.testing.assert_allclose(prior, [0.5, 0.5])
    bias = fit_class_bias(proba, y, prior)
    assert bias[0] == 0.0 and bias[1] < 0  # the rare class is marked down
    raw = macro_f1(y, proba.argmax(axis=1))
    corrected = macro_f1(y, shifted(proba, bias).argmax(axis=1))
    assert corrected > raw + 0.05
    np.testing.assert_allclose(shifted(proba, np.zeros(2)), proba)


def test_split_metrics_bootstrap_resamples_vendor_groups():
    """One vendor group: every resample draws the same rows, so the interval is one point."""
    from model.labels import LabelSet
    from training.transformer.metrics import split_metrics

    labels = LabelSet.from_names(["benign", "drugs"], "benign")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    proba = np.eye(2)[np.where(rng.random(200) < 0.8, y, 1 - y)]
    by_row = split_metrics(y, proba, labels)["macro_f1_ci95"]
    one_vendor = split_metrics(y, proba, labels, groups=["v"] * 200)["macro_f1_ci95"]
    assert by_row[0] < by_row[1]
    assert one_vendor[0] == one_vendor[1]



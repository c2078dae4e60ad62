"""Cross-fitted hard negatives: refits of the bundle's recipe that never saw what they score."""

import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import training.baseline as baseline_module
from cli.main import main
from data.dataset import load_splits
from model import Classifier
from tests.training_support import build_fixture_dataset, record_fitted_texts
from training.baseline import BaselineOptions, train_baseline
from training.lookalike_groups import load_definition
from training.suite import hard_negative_crossfit as crossfit
from training.suite import render
from training.suite.hard_negatives import hard_negatives
from training.suite.runner import run_suite

KNIVES = re.compile(r"(?i)\b(?:knife|knives|dagger|machete|switchblade|pocket ?knife)\b")
OPTIONS = BaselineOptions(calibration_folds=2, n_features=2**14, cue_min_rows=2)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return build_fixture_dataset(tmp_path_factory.mktemp("crossfit-data"))


@pytest.fixture(scope="module")
def bundle(dataset: Path, tmp_path_factory) -> Path:
    return train_baseline(dataset, tmp_path_factory.mktemp("models"), OPTIONS, name="hn",
                          make_default=False)


def test_folds_keep_each_group_whole_and_follow_the_seed():
    groups = pd.Series([f"g{i % 7}" for i in range(40)])
    folds = crossfit.assign_folds(groups, 3, seed=1)
    for group in groups.unique():
        assert len(set(folds[(groups == group).to_numpy()])) == 1
    assert set(folds) == {0, 1, 2}
    assert np.array_equal(folds, crossfit.assign_folds(groups, 3, seed=1))
    assert not all(np.array_equal(folds, crossfit.assign_folds(groups, 3, seed=s))
                   for s in range(2, 6))


def test_options_come_back_from_the_bundle(bundle: Path):
    config = Classifier.load(bundle).config
    options = BaselineOptions.of_bundle(config)
    assert asdict(options) == {**config["training"]["options"],
                               "supplements": tuple(config["training"]["options"]["supplements"])}
    older = {"training": {"options": {"C": 0.25, "retired_option": 1}}}
    # a bundle from before look-alike copies existed retrains without them, as it was trained
    assert BaselineOptions.of_bundle(older) == BaselineOptions(C=0.25, lookalike_copies=0)
    assert BaselineOptions().lookalike_copies == 1
    with pytest.raises(ValueError, match="records no training options"):
        BaselineOptions.of_bundle({"version": "old"})


def test_excluded_groups_never_reach_the_fit(dataset: Path, tmp_path: Path, monkeypatch):
    train = load_splits(dataset, ["train"])["train"]
    knives = train[train["title"].str.contains(KNIVES)]
    assert len(knives)
    fitted = record_fitted_texts(monkeypatch)
    kept = train_baseline(dataset, tmp_path, OPTIONS, name="kept", make_default=False)
    left = train_baseline(dataset, tmp_path, OPTIONS, name="left", make_default=False,
                          exclude_groups=set(knives["group"]))
    excluded = train[train["group"].isin(set(knives["group"]))]
    texts = baseline_module.prepared_texts(excluded, OPTIONS.max_description_chars)
    assert set(texts) <= set(fitted[0])
    assert not set(texts) & set(fitted[1])
    assert Classifier.load(left).config["dataset"]["excluded_rows"] == len(excluded)
    assert "excluded_rows" not in Classifier.load(kept).config["dataset"]


def test_every_training_lookalike_is_scored_once_by_a_refit_without_it(
        dataset: Path, bundle: Path, monkeypatch):
    classifier = Classifier.load(bundle)
    frames = load_splits(dataset, ["train", "validation", "test", "oot", "cross_market"])
    held_out = hard_negatives(classifier, frames)
    calls = []
    real_train = crossfit.train_baseline

    def recording_train(dataset, models_root, options, **kwargs):
        calls.append((options, kwargs["exclude_groups"], kwargs["make_default"]))
        return real_train(dataset, models_root, options, **kwargs)

    monkeypatch.setattr(crossfit, "train_baseline", recording_train)
    result = crossfit.cross_fitted_hard_negatives(classifier, dataset, frames, held_out,
                                                  folds=2, seed=3)
    train = frames["train"]
    lawful = train[(train["kind"] == "surface") & (train["label"] == "benign")]
    _, groups = load_definition()
    lookalikes = lawful[np.any([g.mask(lawful) for g in groups], axis=0)]
    assert sum(r["held_rows"] for r in result["refits"]) == len(lookalikes)
    assert len(calls) == 2 and not calls[0][1] & calls[1][1]
    assert calls[0][1] | calls[1][1] == set(lookalikes["group"])
    assert all(options == BaselineOptions.of_bundle(classifier.config) and make is False
               for options, _, make in calls)
    knives = result["groups"]["knives"]
    assert knives["training_rows"] == int(lookalikes["title"].str.contains(KNIVES).sum()) > 0
    before = held_out["groups"]["knives"]
    assert knives["pooled_rows"] == knives["training_rows"] + before["rows"]
    assert knives["pooled_fp_argmax"] == knives["fp_argmax"] + before["fp_argmax"]
    assert sum(knives["predicted"].values()) == knives["training_rows"]
    assert len(knives["flagged_examples"]) == min(knives["fp_argmax"], 5)
    low, high = knives["pooled_interval"]
    assert low <= knives["pooled_fp_rate_argmax"] <= high
    html = render.hard_negatives({**held_out, "cross_fitted": result})[0]
    assert "Cross-fitted" in html and "pooled FP rate" in html
    assert crossfit.headline(result)["hard_negatives.knives.fp_rate_pooled"] == \
        knives["pooled_fp_rate_argmax"]


def test_what_cannot_be_cross_fitted_is_refused_before_any_work(dataset: Path, bundle: Path,
                                                                tmp_path: Path):
    classifier = Classifier.load(bundle)
    with pytest.raises(ValueError, match="at least 2"):
        crossfit.check_cross_fittable(classifier, dataset, 1)
    transformer = Classifier.load(bundle)
    transformer.config["kind"] = "transformer"
    with pytest.raises(ValueError, match="only baseline bundles"):
        crossfit.check_cross_fittable(transformer, dataset, 5)
    other = Classifier.load(bundle)
    other.config["dataset"]["fingerprint"] = "f" * 64
    with pytest.raises(ValueError, match="recipe's refits must train on the rows"):
        crossfit.check_cross_fittable(other, dataset, 5)
    with pytest.raises(ValueError, match="run that section too"):
        run_suite(str(bundle), dataset, tmp_path / "out", ["calibration"],
                  hard_negative_folds=2)


def test_the_folds_option_says_what_it_goes_with(models_dir, capsys):
    assert main(["evaluate", "baseline-test", "--hard-negative-folds", "3"]) == 2
    assert "give it with --suite" in capsys.readouterr().err
    assert main(["evaluate", "--compare", "baseline-test", "baseline-test", "--suite", "none",
                 "--hard-negative-folds", "3"]) == 2
    assert "which --suite none does not run" in capsys.readouterr().err

"""Paired differences between two bundles: the bootstrap, the split entries and `--compare`."""

import json
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from model import Classifier, LabelSet
from tests.suite_support import write_tiny_dataset
from training.metrics import bootstrap_macro_f1, bootstrap_macro_f1_difference
from training.suite.paired import check_same_labels, paired_split

NAMES = ("benign", "drugs", "weapons", "counterfeit", "stolen_data")


def noisy_predictions(y: np.ndarray, error_rate: float | np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(y)) < error_rate
    return np.where(wrong, (y + rng.integers(1, 5, len(y))) % 5, y)


@pytest.fixture()
def vendor_split():
    """2,000 rows written by 100 vendors, each of whom sells one class."""
    rng = np.random.default_rng(3)
    vendor_class = rng.integers(0, 5, 100)
    groups = rng.integers(0, 100, 2000)
    return vendor_class[groups], groups


def test_a_model_against_itself_differs_by_nothing_in_every_draw(vendor_split):
    y, groups = vendor_split
    pred = noisy_predictions(y, 0.2, 0)
    interval, b_ahead = bootstrap_macro_f1_difference(y, pred, pred, list(range(5)), 5, groups)
    assert interval == [0.0, 0.0] and b_ahead == 0.0


def test_the_paired_interval_is_narrower_than_either_models_own(vendor_split):
    y, groups = vendor_split
    hard_vendor = np.random.default_rng(4).random(100) < 0.3  # every model errs there
    a = noisy_predictions(y, np.where(hard_vendor[groups], 0.6, 0.05), 1)
    b = np.where(np.random.default_rng(2).random(len(y)) < 0.25, y, a)  # B mends a quarter
    present = list(range(5))
    interval, b_ahead = bootstrap_macro_f1_difference(y, a, b, present, 5, groups)
    own_a = bootstrap_macro_f1(y, a, present, 5, groups)
    assert 0 < interval[0] < interval[1]
    assert b_ahead == 1.0
    assert interval[1] - interval[0] < (own_a[1] - own_a[0]) / 2


def test_paired_split_counts_the_rows_only_one_model_gets_right():
    y = np.array([0, 0, 1, 1, 2, 2])
    a = np.array([0, 1, 1, 1, 0, 2])  # misses row 1 and row 4
    b = np.array([0, 0, 1, 0, 0, 2])  # misses row 3 and row 4
    entry = paired_split(y, a, b, NAMES, groups=np.array(list("aabbcc")))
    assert entry["only_a_right"] == 1 and entry["only_b_right"] == 1
    assert entry["rows"] == 6 and entry["resampled"] == "vendors"
    assert set(entry["per_class_f1_b_minus_a"]) == {"benign", "drugs", "weapons"}
    assert entry["b_minus_a"] == pytest.approx(entry["macro_f1_b"] - entry["macro_f1_a"],
                                               abs=1e-4)


def test_bundles_with_other_classes_are_not_paired(tiny_classifier):
    other = Classifier(tiny_classifier.model,
                       LabelSet.from_names(["benign", "drugs", "weapons", "fakes", "data"]),
                       config={"version": "renamed"})
    with pytest.raises(ValueError, match="different classes"):
        check_same_labels(tiny_classifier, other)


def test_compare_bundles_paired_only(models_dir, tmp_path, capsys):
    dataset = write_tiny_dataset(tmp_path / "tiny")
    out = tmp_path / "c"
    code = main(["evaluate", "--compare", "baseline-test", "default", "--suite", "none",
                 "--dataset", str(dataset), "--output", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "paired macro-F1 (same rows)" in printed
    result = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert set(result["paired"]) == {"validation", "test", "oot", "cross_market"}
    for entry in result["paired"].values():
        assert entry["b_minus_a"] == 0.0 and entry["b_minus_a_ci95"] == [0.0, 0.0]
    assert result["paired_dataset"]["name"] == "tiny"
    assert "Paired differences" in (out / "compare.html").read_text(encoding="utf-8")
    # the out-of-domain splits also say whether a gap is in the cut or in the ranking
    assert {s for s, e in result["paired"].items() if "cut_free" in e} == {"oot", "cross_market"}
    cut_free = result["paired"]["cross_market"]["cut_free"]
    assert cut_free["a"] == cut_free["b"]
    assert cut_free["a"]["macro_f1_offset_ceiling"] >= cut_free["a"]["macro_f1_served"]
    assert "cross_market: macro_f1_per_market_ceiling" in printed
    assert "where each cuts, or how each ranks" in (out / "compare.html").read_text(
        encoding="utf-8")


def test_compare_says_why_it_cannot_pair_a_run_whose_bundle_is_gone(models_dir, tmp_path,
                                                                      capsys):
    dataset = write_tiny_dataset(tmp_path / "tiny")
    run = {"bundle": "baseline-gone", "bundle_path": str(tmp_path / "nowhere"), "headline": {}}
    (tmp_path / "gone.json").write_text(json.dumps(run), encoding="utf-8")
    code = main(["evaluate", "--compare", str(tmp_path / "gone.json"), "baseline-test",
                 "--suite", "none", "--dataset", str(dataset),
                 "--output", str(tmp_path / "c")])
    assert code == 0
    assert "no paired differences: the bundle of" in capsys.readouterr().out
    result = json.loads((tmp_path / "c" / "compare.json").read_text(encoding="utf-8"))
    assert "paired" not in result and "cannot be loaded" in result["paired_skipped"]
    assert Path(tmp_path / "c" / "compare.html").is_file()


def test_paired_split_gives_each_large_enough_market_its_own_entry():
    y = np.array([0] * 150 + [1] * 150 + [0] * 20)
    markets = np.array(["shop"] * 150 + ["darknet"] * 150 + ["tiny"] * 20)
    a = y.copy()
    a[:30] = 1  # A flags 30 of the shop's 150 lawful listings
    b = y.copy()
    b[150:160] = 0  # B misses 10 of the darknet market's drugs
    entry = paired_split(y, a, b, NAMES, markets=markets)
    assert set(entry["per_market"]) == {"shop", "darknet"}  # "tiny" is under 100 rows
    shop, darknet = entry["per_market"]["shop"], entry["per_market"]["darknet"]
    assert shop["lawful_flagged_a"] == 0.2 and shop["lawful_flagged_b"] == 0.0
    assert shop["b_minus_a"] > 0 and shop["b_minus_a_ci95"][0] > 0
    assert darknet["b_minus_a"] < 0 and "lawful_flagged_a" not in darknet
    assert entry["lawful_flagged_a"] == round(30 / 170, 4)
    assert "per_market" not in shop


def test_compare_warns_when_a_bundle_was_trained_on_another_build(models_dir, tmp_path,
                                                                  tiny_classifier, capsys):
    dataset = write_tiny_dataset(tmp_path / "tiny")
    other = Classifier(tiny_classifier.model, tiny_classifier.labels,
                       thresholds=tiny_classifier.thresholds,
                       config={"version": "baseline-other", "dataset": {"fingerprint": "f" * 64}})
    other.save(models_dir / "baseline-other")
    code = main(["evaluate", "--compare", "baseline-test", "baseline-other", "--suite", "none",
                 "--dataset", str(dataset), "--output", str(tmp_path / "c")])
    assert code == 0
    out = capsys.readouterr().out
    assert "baseline-other was trained on another build (ffffffffffffffff…)" in out
    assert "paired macro-F1 (same rows)" in out  # still given, with the warning first


def test_suite_none_without_compare_is_a_clear_error(models_dir, capsys):
    assert main(["evaluate", "baseline-test", "--suite", "none"]) == 2
    assert "it goes with --compare A B" in capsys.readouterr().err

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.build import build
from model import Classifier, registry
from model.priors import confusion_matrix
from model.text import listing_text
from tests.raw_fixture import raw_frame, with_supplement_candidates
from training.augment import drop_descriptions
from training.baseline import BaselineOptions, cap_per_class, train_baseline
from training.evaluate import evaluate_bundle


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fixture-data")
    (root / "tables").mkdir()
    raw = raw_frame()
    with_supplement_candidates(raw, "Apple iPhone 12 phone case").drop(
        columns=["label"]).to_parquet(root / "tables" / "fixture.parquet")
    build(root / "tables", root / "dataset")
    return root / "dataset"


def test_train_saves_a_described_default_bundle(dataset: Path, tmp_path: Path):
    feedback = tmp_path / "feedback.csv"
    feedback.write_text("title,description,label\nbrand new rifle scope mount,,weapons\n")
    options = BaselineOptions(calibration_folds=2, n_features=2**16)
    path = train_baseline(dataset, tmp_path / "models", options, extra=[feedback])
    assert registry.default_name(tmp_path / "models") == path.name
    clf = Classifier.load(path)
    config = clf.config
    info = json.loads((dataset / "dataset_info.json").read_text())
    assert config["dataset"]["fingerprint"] == info["fingerprint"]
    assert config["dataset"]["extra_rows"] == 1
    assert config["policy"]["sha256"] == info["policy"]["sha256"]
    assert set(config["metrics"]) >= {"validation", "test"}
    assert set(config["thresholds"]) == {"drugs", "weapons", "counterfeit", "stolen_data"}
    card = (path / "README.md").read_text()
    assert "## Intended use" in card and "## Limitations" in card
    assert "## Class mix the scores are calibrated to" in card
    assert abs(sum(config["source_prior"].values()) - 1) < 1e-6
    # BBSE's matrix: the validation split's (predicted, true) shares, every class present
    confusion = confusion_matrix(config["validation_confusion"], clf.labels.names)
    validation = config["metrics"]["validation"]
    assert confusion.sum() == pytest.approx(1.0)
    assert np.trace(confusion) == pytest.approx(validation["accuracy"], abs=1e-4)
    # a second run takes the default only if validation prefers it; it mines hard negatives
    # and weighs vendors, and says so; it is told to train without the default supplements
    mined = BaselineOptions(calibration_folds=2, n_features=2**16, hard_negative_weight=1.0,
                            group_weight_power=0.5, supplements=(), cue_min_rows=2)
    second = train_baseline(dataset, tmp_path / "models", mined, name="second")
    validation = {b: Classifier.load(b).config["metrics"]["validation"]["macro_f1"]
                  for b in (path, second)}
    expected = second if validation[second] > validation[path] else path
    assert registry.default_name(tmp_path / "models") == expected.name
    assert second.name == "second"
    with pytest.raises(FileExistsError, match="choose another --name"):  # before training
        train_baseline(dataset, tmp_path / "models", options, name="second")
    second_classifier = Classifier.load(second)
    training = second_classifier.config["training"]
    assert training["options"]["hard_negative_weight"] == 1.0
    assert training["options"]["group_weight_power"] == 0.5
    assert second_classifier.model.get_params()["group_weight_power"] == 0.5
    assert training["hard_negatives"] == second_classifier.model.hard_negatives_ >= 0
    # cue-word copies are on by default; the fixture's classes are too small for a word to
    # be in 20 titles, so only the second run (2 titles) found cue words and made copies
    assert config["dataset"]["cue_copies"] == 0
    assert list(config["training"]["cue_words"].values()) == [[], [], [], []]
    cues = training["cue_words"]
    assert set(cues) == {"drugs", "weapons", "counterfeit", "stolen_data"}
    assert any(cues.values()) and second_classifier.config["dataset"]["cue_copies"] > 0
    assert "copies of illicit listings with the words" in (second / "README.md").read_text()
    # the darknet-register mask is on by default; without the darknet-benign supplements
    # there is no contrast to choose it from, so the second run trained without one
    assert config["training"]["options"]["register_mask"] == 0.5
    assert training["masked_features"] == 0
    assert second_classifier.model.masked_features is None
    # the first run, told nothing, trained on the supplements the policy marks by_default
    defaults = ["darknet-benign", "darknet-lawful-goods", "darknet-stolen-data"]
    assert config["training"]["options"]["supplements"] == defaults
    assert sorted(config["dataset"]["supplements"]) == defaults
    supplement = config["dataset"]["supplements"]["darknet-benign"]
    assert supplement == {"rows": 2, "sha256": info["supplements"]["darknet-benign"]["sha256"]}
    assert "`darknet-benign` (2 rows)" in card
    assert Classifier.load(second).config["dataset"]["supplements"] == {}
    assert "supplements" not in (second / "README.md").read_text()
    with pytest.raises(ValueError, match="has no supplement 'nope'"):  # before training
        train_baseline(dataset, tmp_path / "models",
                       BaselineOptions(calibration_folds=2, supplements=("nope",)), name="third")


def test_group_weight_power_is_checked_before_training():
    with pytest.raises(ValueError, match="group_weight_power must be within"):
        BaselineOptions(group_weight_power=2.0)


def test_extra_training_rows_with_unknown_label_are_refused(dataset: Path, tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("title,label\nsomething,malware\n")
    with pytest.raises(ValueError, match="malware"):
        train_baseline(dataset, tmp_path / "models", BaselineOptions(calibration_folds=2),
                       extra=[bad])
    untitled = tmp_path / "untitled.csv"
    untitled.write_text("title,label\nglock 19,weapons\n,drugs\n  ,benign\n")
    with pytest.raises(ValueError, match=r"2 row\(s\) have no title \(data rows 2, 3\)"):
        train_baseline(dataset, tmp_path / "models", BaselineOptions(calibration_folds=2),
                       extra=[untitled])


def test_evaluate_writes_markdown_json_and_plots(dataset: Path, tmp_path: Path):
    path = train_baseline(dataset, tmp_path / "models",
                          BaselineOptions(calibration_folds=2, n_features=2**16))
    out, results = evaluate_bundle(str(path), dataset, tmp_path / "report")
    assert {"validation", "test", "oot", "cross_market"} >= set(results)
    assert (out / "report.md").read_text().count("| macro-F1 |") == 1
    assert json.loads((out / "metrics.json").read_text()).keys() == results.keys()
    assert (out / "confusion_test.png").stat().st_size > 1000
    assert (out / "pr_test.png").stat().st_size > 1000


def test_cap_per_class_is_reproducible():
    frame = pd.DataFrame({"label": ["a"] * 10 + ["b"] * 3, "text": [str(i) for i in range(13)]})
    capped = cap_per_class(frame, 4, seed=1)
    assert capped["label"].value_counts().to_dict() == {"a": 4, "b": 3}
    assert capped.equals(cap_per_class(frame, 4, seed=1))


def test_bootstrap_interval_brackets_macro_f1_and_resamples_whole_groups():
    import numpy as np

    from training.metrics import bootstrap_macro_f1

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    pred = np.where(rng.random(600) < 0.8, y, rng.integers(0, 3, 600))
    assert bootstrap_macro_f1(y, y, [0, 1, 2], 3) == [1.0, 1.0]
    low, high = bootstrap_macro_f1(y, pred, [0, 1, 2], 3)
    point = np.mean([2 * ((y == c) & (pred == c)).sum() / ((y == c).sum() + (pred == c).sum())
                     for c in range(3)])
    assert low < point < high and high - low < 0.2
    # one group: every resample draws the same rows, so the interval is the point itself
    one = bootstrap_macro_f1(y, pred, [0, 1, 2], 3, groups=np.zeros(600))
    assert one[0] == one[1] == round(point, 4)
    # errors that come a vendor at a time: resampling vendors shows the real uncertainty
    vendor = np.arange(600) % 10
    clustered = np.where(vendor < 2, (y + 1) % 3, y)
    by_row = bootstrap_macro_f1(y, clustered, [0, 1, 2], 3)
    by_vendor = bootstrap_macro_f1(y, clustered, [0, 1, 2], 3, groups=vendor)
    assert by_vendor[1] - by_vendor[0] > 2 * (by_row[1] - by_row[0])


def test_description_dropout_shows_a_share_of_described_rows_by_title_alone():
    frame = pd.DataFrame({"title": [f"Item {i}" for i in range(400)],
                          "description": [f"long body {i}" if i % 2 else None
                                          for i in range(400)]})
    texts = [listing_text(f"Item {i}", f"long body {i}" if i % 2 else None) for i in range(400)]
    kept = drop_descriptions(frame, texts, 0.0, seed=1)
    assert kept == texts
    dropped = drop_descriptions(frame, texts, 0.5, seed=1)
    assert dropped == drop_descriptions(frame, texts, 0.5, seed=1)  # seeded
    changed = [i for i, (a, b) in enumerate(zip(texts, dropped, strict=True)) if a != b]
    assert all(i % 2 for i in changed)  # only rows with a description change
    assert all(dropped[i] == f"Item {i}" for i in changed)  # to the prepared title
    assert 70 < len(changed) < 130  # about half of the 200 described rows
    assert len({i for i in range(400) if drop_descriptions(frame, texts, 1.0, 1)[i]
                != texts[i]}) == 200
    with pytest.raises(ValueError, match="within"):
        drop_descriptions(frame, texts, 1.5, seed=1)
    with pytest.raises(ValueError, match="description_dropout"):
        BaselineOptions(description_dropout=-0.1)

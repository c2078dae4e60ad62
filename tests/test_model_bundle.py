import json

import numpy as np
import pytest

from model import BundleError, Classifier
from model.bundle import CONFIG_FILE


def test_round_trip_gives_identical_scores(tiny_classifier, tmp_path):
    path = tiny_classifier.save(tmp_path / "b")
    loaded = Classifier.load(path)
    texts = ["Glock 19 + 2 mags", "grass seed 5kg", "US fullz SSN"]
    np.testing.assert_allclose(loaded.predict_proba(texts), tiny_classifier.predict_proba(texts))
    assert loaded.labels == tiny_classifier.labels
    assert loaded.thresholds == tiny_classifier.thresholds
    config = json.loads((path / CONFIG_FILE).read_text())
    assert config["id2label"]["1"] == "drugs"
    assert set(config["files"]) >= {"baseline.joblib", "README.md"}


def test_predict_returns_label_scores_decision(tiny_classifier):
    [pred] = tiny_classifier.predict([{"title": "Glock 19 with 2 mags", "id": "x1"}])
    assert pred.label == "weapons"
    assert pred.id == "x1"
    assert set(pred.scores) == set(tiny_classifier.labels.names)
    assert abs(sum(pred.scores.values()) - 1) < 1e-6
    assert pred.decision in {"block", "review", "allow"}
    assert pred.model_version == "baseline-test"


def test_tampered_file_is_refused(tiny_classifier, tmp_path):
    path = tiny_classifier.save(tmp_path / "b")
    with open(path / "baseline.joblib", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(BundleError, match="checksum"):
        Classifier.load(path)


def test_other_format_version_is_refused(tiny_classifier, tmp_path):
    path = tiny_classifier.save(tmp_path / "b")
    config = json.loads((path / CONFIG_FILE).read_text())
    config["format_version"] = 99
    (path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(BundleError, match="format 99"):
        Classifier.load(path)


def test_other_sklearn_version_is_refused(tiny_classifier, tmp_path):
    path = tiny_classifier.save(tmp_path / "b")
    config = json.loads((path / CONFIG_FILE).read_text())
    config["packages"]["scikit-learn"] = "0.1.0"
    (path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(BundleError, match=r"scikit-learn 0\.1\.0"):
        Classifier.load(path)


def test_registry_resolves_default_and_kind(models_dir):
    assert Classifier.load("default").version == "baseline-test"
    assert Classifier.load("baseline").version == "baseline-test"
    with pytest.raises(BundleError, match="no transformer bundle"):
        Classifier.load("transformer")
    with pytest.raises(BundleError, match="no bundle called"):
        Classifier.load("nope")


def test_bundles_are_never_overwritten(tiny_classifier, tmp_path):
    tiny_classifier.save(tmp_path / "b")
    with pytest.raises(FileExistsError):
        tiny_classifier.save(tmp_path / "b")


def _fake_bundle(root, name, validation, fingerprint="data-1"):
    """A folder with just the config fields the registry reads (no model files)."""
    from model.bundle import FORMAT_VERSION

    (root / name).mkdir(parents=True)
    config = {"format_version": FORMAT_VERSION, "kind": "baseline", "version": name,
              "id2label": {"0": "benign"}, "files": {},
              "dataset": {"fingerprint": fingerprint},
              "metrics": {"validation": {"macro_f1": validation}}}
    (root / name / CONFIG_FILE).write_text(json.dumps(config))
    return root / name


def test_a_new_bundle_becomes_the_default_only_when_validation_says_it_is_better(tmp_path):
    from model import registry

    first = _fake_bundle(tmp_path, "first", 0.80)
    assert "no default" in registry.adopt_if_best(first, None, tmp_path)
    worse = _fake_bundle(tmp_path, "worse", 0.79)
    assert "stays first" in registry.adopt_if_best(worse, None, tmp_path)
    tie = _fake_bundle(tmp_path, "tie", 0.80)
    registry.adopt_if_best(tie, None, tmp_path)
    assert registry.default_name(tmp_path) == "first"
    elsewhere = _fake_bundle(tmp_path, "elsewhere", 0.99, fingerprint="data-2")
    assert "another dataset" in registry.adopt_if_best(elsewhere, None, tmp_path)
    better = _fake_bundle(tmp_path, "better", 0.81)
    assert "0.8100 against 0.8000" in registry.adopt_if_best(better, None, tmp_path)
    assert registry.default_name(tmp_path) == "better"
    best = _fake_bundle(tmp_path, "best", 0.95)
    registry.adopt_if_best(best, False, tmp_path)  # --no-default
    assert registry.default_name(tmp_path) == "better"
    registry.adopt_if_best(worse, True, tmp_path)  # --set-default
    assert registry.default_name(tmp_path) == "worse"

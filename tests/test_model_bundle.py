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

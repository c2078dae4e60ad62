"""Shared test fixtures: a tiny baseline bundle trained on hand-written listings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(os.environ.get("CONTRABAND_DATA", Path(__file__).parents[2] / "shared"
                                  / "datasets"))


@pytest.fixture(scope="session")
def tiny_classifier():
    """A fitted baseline ``Classifier`` on the fixture listings (no shared data needed)."""
    from model import Classifier, LabelSet
    from model.baseline import TfidfLinearModel
    from model.text import listing_text
    from tests.fixtures import rows

    labels = LabelSet.from_names(["benign", "drugs", "weapons", "counterfeit", "stolen_data"])
    data = rows()
    texts = [listing_text(t) for t, _ in data]
    y = np.array([labels.index(label) for _, label in data])
    model = TfidfLinearModel(calibration_folds=2).fit(texts, y)
    thresholds = {n: {"block": 0.6, "review": 0.3} for n in labels.illicit}
    return Classifier(model, labels, thresholds=thresholds, config={"version": "baseline-test"})


@pytest.fixture()
def models_dir(tmp_path: Path, tiny_classifier, monkeypatch) -> Path:
    """A models folder holding the tiny bundle as the default; CONTRABAND_MODELS points at it."""
    from model import registry

    root = tmp_path / "models"
    tiny_classifier.save(root / "baseline-test")
    registry.set_default("baseline-test", root)
    monkeypatch.setenv("CONTRABAND_MODELS", str(root))
    return root

"""Helpers for tests that train baselines on the raw-table fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

import training.baseline as baseline_module
from data.build import build
from tests.raw_fixture import raw_frame


def build_fixture_dataset(root: Path) -> Path:
    """The raw-table fixture built into a dataset under ``root``; its folder."""
    (root / "tables").mkdir()
    raw_frame().drop(columns=["label"]).to_parquet(root / "tables" / "fixture.parquet")
    build(root / "tables", root / "dataset")
    return root / "dataset"


def record_fitted_texts(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """A list that gets the texts of every baseline fit from now on, one list per fit."""
    fitted: list[list[str]] = []
    real_fit = baseline_module.TfidfLinearModel.fit

    def recording_fit(self, texts, *args, **kwargs):
        fitted.append(list(texts))
        return real_fit(self, texts, *args, **kwargs)

    monkeypatch.setattr(baseline_module.TfidfLinearModel, "fit", recording_fit)
    return fitted

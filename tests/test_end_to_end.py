"""End to end on the real shared data: build → train baseline → evaluate → scan a sample.

Training is capped per class to keep this to a few minutes on 2 cores; the figures checked
are sanity floors, not the model's reported quality (see the closing notes / README).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SHARED_DATA

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"no shared data at {SHARED_DATA}"),
]


def contraband(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"contraband {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def test_build_train_evaluate_scan(tmp_path: Path):
    env = {
        **os.environ,
        "CONTRABAND_DATA": str(SHARED_DATA),
        "CONTRABAND_MODELS": str(tmp_path / "models"),
        "CONTRABAND_DATASET": str(tmp_path / "dataset"),
        "HF_HUB_OFFLINE": "1",
    }
    contraband("data", "build", env=env)
    info = json.loads((tmp_path / "dataset" / "dataset_info.json").read_text())
    assert info["shared_groups"] == 0
    assert info["splits"]["train"] > 100_000
    assert info["splits"]["oot"] > 2_000
    assert set(info["labels"]) == {"benign", "drugs", "weapons", "counterfeit", "stolen_data"}

    out = contraband("train", "--model", "baseline", "--max-per-class", "4000",
                     "--calibration-folds", "2", env=env)
    assert "bundle saved to" in out
    assert "(*" in contraband("models", "list", env=env)  # the new bundle is the default

    report = tmp_path / "report"
    contraband("evaluate", "default", "--output", str(report), env=env)
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["test"]["macro_f1"] > 0.70
    assert metrics["oot"]["macro_f1"] > 0.70
    assert metrics["test"]["per_class"]["drugs"]["f1"] > 0.9
    assert (report / "confusion_test.png").stat().st_size > 1000

    sample = pd.read_parquet(tmp_path / "dataset" / "cross_market.parquet").sample(
        2000, random_state=0)
    sample = sample[["uid", "title", "description", "market", "label"]].rename(
        columns={"uid": "id", "label": "true_label"})
    sample.to_parquet(tmp_path / "sample.parquet")
    contraband("scan", str(tmp_path / "sample.parquet"), "--model", "default",
               "--output", str(tmp_path / "scored.parquet"), "--no-progress", env=env)
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert sorted(scored["id"]) == sorted(sample["id"])
    for column in ["label", "decision", "model_version", *(f"score_{c}" for c in info["labels"])]:
        assert column in scored.columns
    assert (scored["label"] == scored["true_label"]).mean() > 0.75
    assert set(scored["decision"]) <= {"allow", "review", "block"}

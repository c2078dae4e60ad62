"""``contraband evaluate``: a bundle against the dataset splits, written as a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data.dataset import load_splits, read_info
from model import Classifier
from training.baseline import EVAL_SPLITS, evaluate_splits
from training.report import write_report

DEFAULT_REPORTS_DIR = Path("artifacts/reports")


def evaluate_bundle(
    model: str, dataset: Path, out_dir: Path | None = None, splits: tuple[str, ...] = EVAL_SPLITS
) -> tuple[Path, dict[str, Any]]:
    """Evaluate ``model`` (name or path) on ``splits``; returns the report folder and metrics."""
    classifier = Classifier.load(model)
    info = read_info(dataset)
    frames = load_splits(dataset, list(splits))
    results, predictions = evaluate_splits(classifier, frames)
    out_dir = out_dir or DEFAULT_REPORTS_DIR / classifier.version
    header = (
        f"# Evaluation of {classifier.version}\n\n"
        f"Dataset `{info['name']}` (fingerprint `{info['fingerprint'][:16]}…`); "
        f"bundle trained on fingerprint "
        f"`{str(classifier.config.get('dataset', {}).get('fingerprint', '?'))[:16]}…`.\n"
        "Macro-F1 averages over the classes present in each split."
    )
    write_report(out_dir, results, predictions, classifier.labels, header)
    return out_dir, results

"""``contraband evaluate BUNDLE --suite all``: run the sections, write JSON, PNGs and HTML.

Sections: ``crossmarket`` (the bundle on the 2020 markets, unseen shops and each market),
``transfer`` (leave-one-market-out retraining and the transfer matrix: the baseline
architecture, retrained, so the slowest section), ``ablation`` (title only vs title +
description), ``robustness``, ``hard_negatives``, ``calibration``, ``label_shift`` (scores
corrected to each market's class mix, as ``contraband adapt`` does to a scan),
``explanations``.

Output folder (default ``artifacts/reports/VERSION-suite``):

    suite.json      every figure of every section, plus a flat ``headline`` for comparisons
    report.html     one self-contained page (plots inline as base64 PNGs)
    *.png           the plots as files
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from data.dataset import load_splits, read_info
from data.supplements import load_supplement
from model import Classifier
from model.bundle import write_json_atomic
from training.metrics import to_ids
from training.suite import (
    calibration,
    crossmarket,
    explanations,
    hard_negative_crossfit,
    hard_negatives,
    input_ablation,
    label_shift,
    render,
    robustness,
)
from training.suite.common import bundle_texts
from training.suite.fastfit import RetrainConfig
from training.suite.html_report import page

log = logging.getLogger(__name__)
SECTIONS = ("crossmarket", "transfer", "ablation", "robustness", "hard_negatives",
            "calibration", "label_shift", "explanations")
SPLITS = ["train", "validation", "test", "oot", "cross_market"]
RETRAINABLE = {"baseline"}
HEADLINES = {
    "crossmarket": crossmarket.headline,
    "transfer": crossmarket.headline,
    "ablation": input_ablation.headline,
    "robustness": robustness.headline,
    "hard_negatives": lambda result: {  # the pooled rates join when the run cross-fitted
        **hard_negatives.headline(result),
        **hard_negative_crossfit.headline(result.get("cross_fitted", {}))},
    "calibration": calibration.headline,
    "label_shift": label_shift.headline,
    "explanations": explanations.headline,
}


def bundle_supplements(classifier: Classifier) -> list[str]:
    """The training-only supplements the bundle was trained on, by name."""
    return list(classifier.config.get("dataset", {}).get("supplements") or {})


def retrain_pool(classifier: Classifier, dataset: Path, train: pd.DataFrame) -> pd.DataFrame:
    """The train split plus the supplements the bundle was trained on.

    Leave-one-market-out retrains the bundle's recipe per fold, so its folds sample from the
    same rows the bundle learnt from (per-class caps keep each source's share); a fold that
    leaves a market out drops that market's supplement rows with the rest of it.
    """
    names = bundle_supplements(classifier)
    if not names:
        return train
    rows = [load_supplement(dataset, name)[train.columns] for name in names]
    return pd.concat([train, *rows], ignore_index=True)


def parse_sections(spec: str) -> list[str]:
    """``all`` or a comma-separated list of section names."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if names == ["all"]:
        return list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise ValueError(f"unknown suite section(s) {unknown or spec!r}; choose 'all' or "
                         f"from {', '.join(SECTIONS)}")
    return names


def run_section(name: str, classifier: Classifier, frames: dict[str, Any],
                config: RetrainConfig, *, hard_negative_file: Path | None = None,
                robustness_rows: int | None = None,
                fold_rows: pd.DataFrame | None = None,
                dataset: Path | None = None,
                hard_negative_folds: int | None = None) -> dict[str, Any]:
    """One suite section's results. ``fold_rows`` is what leave-one-market-out folds are
    sampled from (default: the train split; see :func:`retrain_pool`);
    ``hard_negative_folds`` adds the cross-fitted hard negatives, retraining the bundle's
    recipe on ``dataset`` once per fold (:mod:`training.suite.hard_negative_crossfit`)."""
    labels = classifier.labels
    if name == "crossmarket":
        return {
            "out_of_time": crossmarket.out_of_time(classifier, frames),
            "darknet_to_shop": crossmarket.darknet_to_shop(classifier, frames),
            "bundle_per_market": crossmarket.bundle_per_market(classifier, frames, config),
        }
    if name == "transfer":
        result: dict[str, Any] = {}
        if classifier.config.get("kind") in RETRAINABLE:
            result["leave_one_market_out"] = crossmarket.leave_one_market_out(
                frames["train"] if fold_rows is None else fold_rows, frames, labels, config)
            result["leave_one_market_out"]["supplements"] = bundle_supplements(classifier)
        else:
            result["protocol"] = (
                f"The {classifier.config.get('kind')} kind is too slow to retrain per fold on "
                "CPU: its cross-market figures are the bundle itself on markets it never "
                "trained on (the 2020 markets and held-out shops) and on the vendor-disjoint "
                "test rows of the others (the cross-market section); the transfer matrix "
                "below is the baseline architecture's, retrained per training market.")
        darknet, background_train, background_test, shops = crossmarket.transfer_inputs(
            frames, config)
        result["transfer_matrix"] = crossmarket.transfer_matrix(
            darknet, background_train, background_test, labels, config, shops)
        return result
    if name == "ablation":
        import pandas as pd

        return {
            **input_ablation.input_ablation(
                classifier,
                pd.concat([frames["test"], frames["cross_market"]], ignore_index=True)),
            "input_read": input_ablation.input_read(classifier, frames),
        }
    if name == "robustness":
        test = frames["test"]
        if robustness_rows and robustness_rows < len(test):
            test = test.sample(robustness_rows, random_state=config.seed)
        return robustness.robustness_suite(classifier, test, seed=config.seed)
    if name == "hard_negatives":
        result = hard_negatives.hard_negatives(classifier, frames, hard_negative_file)
        if hard_negative_folds:
            if dataset is None:
                raise ValueError("cross-fitted hard negatives need the dataset folder")
            result["cross_fitted"] = hard_negative_crossfit.cross_fitted_hard_negatives(
                classifier, dataset, frames, result, hard_negative_file,
                folds=hard_negative_folds, seed=config.seed)
        return result
    if name == "calibration":
        val, test = frames["validation"], frames["test"]
        return calibration.calibration_suite(
            classifier, bundle_texts(classifier, val), to_ids(val["label"], labels),
            bundle_texts(classifier, test), to_ids(test["label"], labels))
    if name == "label_shift":
        return label_shift.label_shift(classifier, frames)
    if name == "explanations":
        return explanations.explanation_examples(classifier, frames["test"], seed=config.seed)
    raise ValueError(f"unknown suite section {name!r}")


def run_suite(
    bundle: str,
    dataset: Path,
    out_dir: Path | None = None,
    sections: list[str] | None = None,
    config: RetrainConfig | None = None,
    *,
    hard_negative_file: Path | None = None,
    robustness_rows: int | None = None,
    hard_negative_folds: int | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run ``sections`` for ``bundle`` on ``dataset``; returns the folder and the results."""
    config = config or RetrainConfig()
    sections = sections or list(SECTIONS)
    classifier = Classifier.load(bundle)
    info = read_info(dataset)
    if hard_negative_folds:
        if "hard_negatives" not in sections:
            raise ValueError("--hard-negative-folds cross-fits the hard_negatives section: "
                             "run that section too")
        hard_negative_crossfit.check_cross_fittable(classifier, dataset, hard_negative_folds)
    frames = load_splits(dataset, SPLITS)
    pool = None  # kept out of ``frames``: supplement rows are never evaluated on
    if "transfer" in sections and classifier.config.get("kind") in RETRAINABLE:
        pool = retrain_pool(classifier, dataset, frames["train"])
    out_dir = Path(out_dir or Path("artifacts/reports") / f"{classifier.version}-suite")
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for name in sections:
        log.info("suite: %s", name)
        started = time.perf_counter()
        results[name] = run_section(name, classifier, frames, config,
                                    hard_negative_file=hard_negative_file,
                                    robustness_rows=robustness_rows, fold_rows=pool,
                                    dataset=dataset, hard_negative_folds=hard_negative_folds)
        timings[name] = round(time.perf_counter() - started, 1)
        log.info("suite: %s done in %.1f s", name, timings[name])
    headline: dict[str, float] = {}
    for name in sections:
        if name in HEADLINES:
            headline.update(HEADLINES[name](results[name]))
    document = {
        "bundle": classifier.version,
        "kind": classifier.config.get("kind"),
        "bundle_path": str(classifier.path),
        "dataset": {"name": info["name"], "fingerprint": info["fingerprint"]},
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "config": asdict(config),
        "robustness_rows": robustness_rows,
        "hard_negative_folds": hard_negative_folds,
        "sections_run": list(sections),
        "seconds": timings,
        "headline": headline,
        "sections": results,
    }
    write_json_atomic(out_dir / "suite.json", document)
    html_sections = []
    for name in sections:
        heading, renderer = render.RENDERERS[name]
        inner, figures = renderer(results[name])
        for figure, png in figures.items():
            (out_dir / f"{figure}.png").write_bytes(png)
        html_sections.append((heading, inner))
    meta = (f"bundle {classifier.version} ({classifier.config.get('kind')}); dataset "
            f"{info['name']} ({info['fingerprint'][:16]}…); {document['created_at']}; "
            f"section seconds {timings}")
    (out_dir / "report.html").write_text(
        page(f"Evaluation suite: {classifier.version}", html_sections, meta), encoding="utf-8")
    return out_dir, document


def summary_lines(document: dict[str, Any]) -> list[str]:
    """The headline figures, one per line, for the terminal."""
    return [f"{key:60s} {value:.4f}" for key, value in document["headline"].items()]

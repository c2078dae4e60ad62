"""The ``contraband evaluate --suite`` / ``--compare`` entry points (wired in commands.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from data.dataset import dataset_dir, load_splits, read_info
from model import Classifier
from training.suite import compare as comparing
from training.suite.runner import parse_sections, run_suite, summary_lines


def bare_document(classifier: Classifier) -> dict:
    """A bundle's place in a comparison without running any suite section
    (``--compare A B --suite none``: the paired differences alone)."""
    return {"bundle": classifier.version, "bundle_path": str(classifier.path),
            "kind": classifier.config.get("kind"), "headline": {}}


def add_paired(result: dict, a: tuple[str, dict], b: tuple[str, dict], dataset: Path,
               splits: list[str], loaded: dict[str, Classifier]) -> None:
    """Score both compared bundles on the same rows of ``splits`` (``result["paired"]``), or
    say why that cannot be done (``result["paired_skipped"]``). ``loaded``: bundles already
    loaded, by the target that named them."""
    from training.suite.paired import paired_comparison

    bundles = []
    for target, document in (a, b):
        classifier, why = comparing.bundle_behind(target, document, loaded.get(target))
        if classifier is None:
            result["paired_skipped"] = why
            return
        bundles.append(classifier)
    try:
        info = read_info(dataset)
        frames = load_splits(dataset, splits)
    except FileNotFoundError as exc:
        result["paired_skipped"] = f"the dataset cannot be read: {exc}"
        return
    result["paired"] = paired_comparison(*bundles, frames, tuple(splits))
    result["paired_dataset"] = {"name": info["name"], "fingerprint": info["fingerprint"]}
    for classifier in bundles:
        trained_on = classifier.config.get("dataset", {}).get("fingerprint")
        if trained_on and trained_on != info["fingerprint"]:
            result["not_comparable"].append(
                f"the paired rows: {classifier.version} was trained on another build "
                f"({trained_on[:16]}…) than the one scored ({info['fingerprint'][:16]}…), "
                "so they may hold its training rows")


def run_from_args(args: argparse.Namespace) -> int:
    dataset = dataset_dir(args.dataset)
    if args.compare:
        a_name, b_name = args.compare
        paired_only = args.suite == "none"
        if paired_only and args.hard_negative_folds:
            raise ValueError("--hard-negative-folds cross-fits the hard_negatives section, "
                             "which --suite none does not run")
        sections = [] if paired_only else parse_sections(args.suite or "all")
        loaded: dict[str, Classifier] = {}

        def run(bundle: str) -> dict:
            if paired_only:
                loaded[bundle] = Classifier.load(bundle)
                return bare_document(loaded[bundle])
            return run_suite(bundle, dataset, None, sections,
                             robustness_rows=args.robustness_rows,
                             hard_negative_folds=args.hard_negative_folds)[1]

        a_document = comparing.load_or_run(a_name, run)
        b_document = comparing.load_or_run(b_name, run)
        result = comparing.compare(a_document, b_document)
        add_paired(result, (a_name, a_document), (b_name, b_document), dataset,
                   [s.strip() for s in args.splits.split(",") if s.strip()], loaded)
        out = Path(args.output) if args.output else (
            Path("artifacts/reports") / f"compare-{result['a']}-vs-{result['b']}")
        path = comparing.write_comparison(result, out)
        for difference in result["not_comparable"]:
            print(f"warning: the two runs differ in {difference}")
        print("\n".join(comparing.summary_lines(result)))
        print(f"comparison written to {path}")
        return 0
    if args.suite == "none":
        raise ValueError("--suite none runs no section: it goes with --compare A B, for the "
                         "paired differences alone")
    sections = parse_sections(args.suite or "all")
    out, document = run_suite(args.bundle, dataset, Path(args.output) if args.output else None,
                              sections, robustness_rows=args.robustness_rows,
                              hard_negative_folds=args.hard_negative_folds)
    print("\n".join(summary_lines(document)))
    print(f"suite report written to {out}/report.html (figures in {out}/suite.json)")
    return 0

"""The ``contraband evaluate --suite`` / ``--compare`` entry points (wired in commands.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from data.dataset import dataset_dir
from training.suite import compare as comparing
from training.suite.runner import parse_sections, run_suite, summary_lines


def run_from_args(args: argparse.Namespace) -> int:
    dataset = dataset_dir(args.dataset)
    sections = parse_sections(args.suite or "all")
    if args.compare:
        a_name, b_name = args.compare

        def run(bundle: str) -> dict:
            return run_suite(bundle, dataset, None, sections,
                             robustness_rows=args.robustness_rows)[1]

        result = comparing.compare(comparing.load_or_run(a_name, run),
                                   comparing.load_or_run(b_name, run))
        out = Path(args.output) if args.output else (
            Path("artifacts/reports") / f"compare-{result['a']}-vs-{result['b']}")
        path = comparing.write_comparison(result, out)
        for difference in result["not_comparable"]:
            print(f"warning: the two runs differ in {difference}")
        print("\n".join(comparing.summary_lines(result)))
        print(f"comparison written to {path}")
        return 0
    out, document = run_suite(args.bundle, dataset, Path(args.output) if args.output else None,
                              sections, robustness_rows=args.robustness_rows)
    print("\n".join(summary_lines(document)))
    print(f"suite report written to {out}/report.html (figures in {out}/suite.json)")
    return 0

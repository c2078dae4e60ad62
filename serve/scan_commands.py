"""``contraband scan``: classify stored listings in bulk (CSV, JSONL, Parquet), resumably."""

from __future__ import annotations

import argparse
import sys

from model.priors import AUTO, METHODS, MIN_GROUP_ROWS
from serve.scan.runner import DEFAULT_CHUNK_ROWS, DEFAULT_GROUP_BY, default_workers


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="classify files of listings in bulk (resumable; see README.md, Batch scanning)",
        description=(
            "Score every listing in CSV, JSONL (optionally .gz) or Parquet files. Output keeps "
            "every input column and adds label, score_<class>, decision and model_version. "
            "Re-running the same command after an interruption finishes the job without "
            "losing or repeating a row."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="files, folders or globs (quote globs); s3:// etc. where pyarrow "
                             "has the filesystem")
    _add_model_arguments(parser, "bundle path, bundle name, kind (newest of it) or 'default'")
    parser.add_argument("--output", "-o", required=True,
                        help="a folder (Parquet parts, manifest.json, rejects.jsonl, "
                             "summary.json) or a .parquet/.csv/.jsonl file to merge into "
                             "(its work folder is <file>.scan/)")
    parser.add_argument("--title-column", default="title")
    parser.add_argument("--description-column", default="description",
                        help="'' for none; a missing column means titles only")
    parser.add_argument("--id-column", default="id", help="copied into rejects.jsonl")
    parser.add_argument("--group-by", action="append", metavar="COLUMN",
                        help="summary counts per value of COLUMN (repeatable; default "
                             f"{', '.join(DEFAULT_GROUP_BY)} where present)")
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="rows per chunk and per part, fixed for the life of an output "
                             "(default: the output's own when resuming, else "
                             + ", ".join(f"{n:,} {e}" for e, n in DEFAULT_CHUNK_ROWS.items())
                             + ")")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="scoring processes (local) or Ray actors (ray); default "
                             "%(default)s")
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--ray-address",
                        help="an existing Ray cluster (e.g. ray://head:10001 or auto); "
                             "default: start a local Ray instance")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard an existing scan in --output instead of resuming it")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first unreadable file or input problem")
    parser.add_argument("--no-progress", action="store_true",
                        help="log lines instead of a progress bar even on a terminal")
    parser.add_argument("--log-every", type=float, default=15.0, metavar="SECONDS",
                        help="interval of progress log lines when not on a terminal")
    parser.set_defaults(handler=_scan)

    adapt = subparsers.add_parser(
        "adapt",
        help="correct a finished scan's scores to each market's own class mix",
        description=(
            "Label-shift adaptation of a scan's output. The scores of a scan are calibrated "
            "to the training data's class mix (about half drugs); a crawl of one market has "
            "its own. For each group of rows (the whole scan, or each value of --by), "
            "estimate that mix from the rows' own scores (--method), correct the scores to "
            "it and recompute label and decision. Writes every input column, "
            "the corrected ones replaced, plus prior_adapted; and OUTPUT.adapt.json with "
            "each group's estimated mix and flagged counts before and after."
        ),
    )
    adapt.add_argument("scan", help="a scan's output folder, or its merged .parquet file")
    adapt.add_argument("--output", "-o", required=True, help="the .parquet file to write")
    adapt.add_argument("--by", metavar="COLUMN",
                       help="column naming each row's market or source (default: the whole "
                            "scan is one market)")
    _add_model_arguments(adapt, "the bundle that made the scan (default: the default bundle)")
    adapt.add_argument("--min-rows", type=int, default=MIN_GROUP_ROWS,
                       help="groups with fewer rows keep their scores: too few to estimate a "
                            "mix from (default %(default)s)")
    adapt.add_argument("--method", choices=METHODS, default=AUTO,
                       help="how the mix is estimated: bbse (black-box shift estimation, "
                            "Lipton et al. 2018: from the counts of predicted labels and the "
                            "bundle's validation confusion matrix; less misled where the "
                            "scores are miscalibrated, as on text unlike the training "
                            "data's), em "
                            "(Saerens et al. 2002: from the scores themselves), or auto: bbse "
                            "where the bundle records a confusion matrix, else em (default)")
    adapt.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    adapt.set_defaults(handler=_adapt)


def _add_model_arguments(parser: argparse.ArgumentParser, model_help: str) -> None:
    parser.add_argument("--model", default="default", help=model_help)
    parser.add_argument("--models-dir", help="models folder (default $CONTRABAND_MODELS or "
                        "artifacts/models)")


def _scan(args: argparse.Namespace) -> int:
    from serve.scan import ScanError, ScanOptions, run_scan
    from serve.scan.columns import ColumnMap

    options = ScanOptions(
        inputs=args.inputs,
        output=args.output,
        model=args.model,
        models_dir=args.models_dir,
        columns=ColumnMap(args.title_column, args.description_column or None,
                          args.id_column or None),
        chunk_rows=args.chunk_rows,
        workers=args.workers,
        engine=args.engine,
        ray_address=args.ray_address,
        group_by=tuple(args.group_by) if args.group_by else DEFAULT_GROUP_BY,
        overwrite=args.overwrite,
        strict=args.strict,
        progress=False if args.no_progress else None,
        log_every_s=args.log_every,
    )
    try:
        summary = run_scan(options)
    except ScanError as exc:
        print(f"contraband scan: error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0 if summary["complete"] else 1


def _share(entry: dict, name: str) -> str:
    """One class's estimated share of a market, with its interval where there is one."""
    low_high = (entry.get("prior_interval") or {}).get(name)
    interval = f" [{low_high[0]:.3f}–{low_high[1]:.3f}]" if low_high else ""
    return f"{name} {entry['prior'][name]:.3f}{interval}"


def _adapt(args: argparse.Namespace) -> int:
    from pathlib import Path

    from serve.scan.adapt import AdaptError, AdaptOptions, adapt_scan

    options = AdaptOptions(scan=Path(args.scan), output=Path(args.output), model=args.model,
                           models_dir=args.models_dir, by=args.by, min_rows=args.min_rows,
                           overwrite=args.overwrite, method=args.method)
    try:
        summary = adapt_scan(options)
    except AdaptError as exc:
        print(f"contraband adapt: error: {exc}", file=sys.stderr, flush=True)
        return 2
    names = list(summary["source_prior"])
    print(f"{summary['rows']:,} rows adapted ({summary['method']}) with "
          f"{summary['model_version']}; training mix "
          + ", ".join(f"{n} {p:.3f}" for n, p in summary["source_prior"].items()))
    if summary.get("prior_interval_covers"):
        print(f"  95% intervals cover {summary['prior_interval_covers']}")
    for group, entry in summary["groups"].items():
        mix = (", ".join(_share(entry, n) for n in names) if entry["adapted"]
               else f"not adapted ({entry['why']})")
        print(f"  {group}: {entry['rows']:,} rows, flagged {entry['flagged_before']:,} -> "
              f"{entry['flagged_after']:,}; estimated mix {mix}")
        if entry["adapted"]:
            print(f"    to serve this market one listing at a time: contraband serve "
                  f"--target-prior {entry['target_prior']}")
        if "warning" in entry:
            print(f"    warning: {entry['warning']}")
    report = Path(summary["output"]).with_suffix(".adapt.json")
    print(f"written to {summary['output']} (summary {report})")
    return 0

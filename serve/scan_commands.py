"""``contraband scan``: classify stored listings in bulk (CSV, JSONL, Parquet), resumably."""

from __future__ import annotations

import argparse
import sys

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
    parser.add_argument("--model", default="default",
                        help="bundle path, bundle name, kind (newest of it) or 'default'")
    parser.add_argument("--models-dir", help="models folder (default $CONTRABAND_MODELS or "
                        "artifacts/models)")
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

"""``contraband data build`` and ``contraband data stats``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="build and inspect the training dataset")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    build = sub.add_parser(
        "build",
        help="raw tables → labelled, de-duplicated, vendor-split dataset",
        description=(
            "Read every Parquet table under the data folder (default $CONTRABAND_DATA or "
            "../shared/datasets), label rows with the policy file, clean and de-duplicate "
            "them, split by vendor and market, and write Parquet splits plus a data card."
        ),
    )
    build.add_argument("--data-dir", help="folder of source tables (default $CONTRABAND_DATA "
                       "or ../shared/datasets)")
    build.add_argument("--out", help="output folder (default $CONTRABAND_DATASET or "
                       "artifacts/data/default)")
    build.add_argument("--policy", help="label policy TOML (default data/policy/default.toml)")
    build.add_argument(
        "--extra", action="append", default=[], metavar="FILE",
        help="your own CSV/JSONL/Parquet table to add (repeatable); see --map, --source",
    )
    build.add_argument(
        "--map", action="append", default=[], metavar="OURS=THEIRS,...",
        help="column mapping for the matching --extra, e.g. title=name,description=body,"
             "vendor=seller,category=cat,market=site,label=verdict",
    )
    build.add_argument("--source", action="append", default=[],
                       help="source name for the matching --extra (default: file stem)")
    build.add_argument("--kind", action="append", default=[], choices=["darkweb", "surface"],
                       help="darkweb or surface for the matching --extra (default darkweb)")
    build.set_defaults(handler=_build)

    stats = sub.add_parser("stats", help="print the built dataset's card and counts")
    stats.add_argument("--dataset", help="built dataset folder (default artifacts/data/default)")
    stats.add_argument("--json", action="store_true", help="print dataset_info.json instead")
    stats.set_defaults(handler=_stats)


def _nth(values: list[str], i: int, default: str) -> str:
    return values[i] if i < len(values) else default


def _build(args: argparse.Namespace) -> int:
    # imported here, not at the top: the parser of every command is built from this module,
    # and pandas costs ~0.6 s to import
    from data.build import build
    from data.dataset import dataset_dir
    from data.sources import UserTable, data_dir, parse_mapping

    tables = [
        UserTable(
            path=Path(path),
            source=_nth(args.source, i, Path(path).name.split(".")[0]),
            mapping=parse_mapping(_nth(args.map, i, "")),
            kind=_nth(args.kind, i, "darkweb"),
        )
        for i, path in enumerate(args.extra)
    ]
    out = dataset_dir(args.out)
    info = build(data_dir(args.data_dir), out, policy_path=args.policy, user_tables=tables)
    print(f"dataset written to {out}")
    print(f"rows read {info['rows_read']}, kept {info['rows_kept']}; splits: "
          + ", ".join(f"{k} {v}" for k, v in info["splits"].items()))
    for step, reasons in info["dropped"].items():
        for reason, n in reasons.items():
            if n:
                print(f"  dropped at {step}: {n:7d}  {reason}")
    for name, supplement in info.get("supplements", {}).items():
        use = ("trained on by default" if supplement.get("by_default")
               else f"use with `contraband train --supplement {name}`")
        print(f"supplement {name}: {supplement['rows']} training-only {supplement['label']} rows "
              f"({use})")
        for reason, n in supplement["dropped"].items():
            if n:
                print(f"  left out: {n:7d}  {reason}")
    print(f"fingerprint {info['fingerprint']}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from data.dataset import CARD_FILE, dataset_dir, read_info

    path = dataset_dir(args.dataset)
    info = read_info(path)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print((path / CARD_FILE).read_text(encoding="utf-8"))
    return 0

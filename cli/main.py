"""``contraband``: one entry point, one sub-command per job.

Each area of the project registers its own sub-commands (``register(subparsers)`` in the
modules listed below), so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# (module, one-line summary shown when the module cannot be imported)
COMMAND_MODULES = [
    "cli.models_command",
    "data.commands",
    "training.commands",
    "serve.api_commands",
    "serve.scan_commands",
    "training.explain_commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contraband",
        description=(
            "Classify marketplace listings as drugs, weapons, counterfeit, stolen_data or "
            "benign. Typical flow: `contraband data build`, `contraband train`, "
            "`contraband evaluate default`, `contraband serve`, `contraband scan`."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, FileExistsError, ValueError, PermissionError) as exc:
        print(f"contraband {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from model.bundle import BundleError

        if isinstance(exc, BundleError):
            print(f"contraband {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

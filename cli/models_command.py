"""``contraband models list`` and ``contraband models set-default``."""

from __future__ import annotations

import argparse

from model import registry


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list bundles and choose the default")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lister = sub.add_parser("list", help="list the bundles in the models folder")
    lister.add_argument("--models-dir", help="models folder (default $CONTRABAND_MODELS or "
                        "artifacts/models)")
    lister.set_defaults(handler=_list)
    chooser = sub.add_parser("set-default", help="make a bundle the one serve and scan use")
    chooser.add_argument("model", help="bundle folder name, path, or kind (newest of it)")
    chooser.add_argument("--models-dir")
    chooser.set_defaults(handler=_set_default)


def _list(args: argparse.Namespace) -> int:
    bundles = registry.list_bundles(args.models_dir)
    root = registry.models_dir(args.models_dir)
    if not bundles:
        print(f"no bundles in {root}")
        return 0
    default = registry.default_name(args.models_dir) or bundles[0].name
    for b in bundles:
        mark = "*" if b.name == default else " "
        print(f"{mark} {b.name:40s} {b.kind:12s} {b.created_at:26s} {b.headline}")
    print(f"(* = default; folder {root})")
    return 0


def _set_default(args: argparse.Namespace) -> int:
    path = registry.set_default(args.model, args.models_dir)
    print(f"default model is now {path.name}")
    return 0

"""The ``--supplement`` / ``--no-supplements`` options of ``contraband train``, shared by the
baseline and the transformer."""

from __future__ import annotations

import argparse


def add_supplement_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive ``--supplement NAME`` (repeatable) and ``--no-supplements``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--supplement", action="append", default=None, metavar="NAME",
                       help="train on the dataset's training-only supplement NAME, declared in "
                            "the label policy, instead of the policy's default supplements "
                            "(`contraband data stats` lists them); repeatable")
    group.add_argument("--no-supplements", action="store_true",
                       help="train on the splits alone, without the policy's default "
                            "supplements")


def supplements_from_args(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The names asked for; () for ``--no-supplements``; None for the policy's defaults."""
    if getattr(args, "no_supplements", False):
        return ()
    names = getattr(args, "supplement", None)
    return tuple(names) if names else None

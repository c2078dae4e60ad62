"""The models folder: where bundles live, which one is the default, and name resolution.

``--model`` everywhere accepts a path to a bundle folder, a bundle's folder name, ``default``
(the bundle named in the folder's ``DEFAULT`` file, else the newest), or a kind name such as
``baseline`` or ``transformer`` meaning the newest bundle of that kind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from model.bundle import BundleError, dataset_fingerprint, read_config
from model.kinds import known_kinds

DEFAULT_MODELS_DIR = "artifacts/models"
DEFAULT_POINTER = "DEFAULT"


def models_dir(override: str | os.PathLike | None = None) -> Path:
    """The models folder: ``override``, else ``$CONTRABAND_MODELS``, else artifacts/models."""
    return Path(override or os.environ.get("CONTRABAND_MODELS") or DEFAULT_MODELS_DIR)


@dataclass(frozen=True)
class BundleInfo:
    name: str
    path: Path
    kind: str
    version: str
    created_at: str
    headline: str  # one metric line for listings


def list_bundles(directory: str | os.PathLike | None = None) -> list[BundleInfo]:
    """Every readable bundle in the models folder, newest first; unreadable ones are skipped."""
    root = models_dir(directory)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if not path.is_dir():
            continue
        try:
            config = read_config(path)
        except BundleError:
            continue
        metrics = config.get("metrics", {})
        headline = ", ".join(
            f"{split} macro-F1 {m['macro_f1']:.3f}"
            for split, m in metrics.items()
            if isinstance(m, dict) and "macro_f1" in m
        )
        found.append(
            BundleInfo(path.name, path, config["kind"], config["version"],
                       str(config.get("created_at", "")), headline)
        )
    return sorted(found, key=lambda b: (b.created_at, b.name), reverse=True)


def default_name(directory: str | os.PathLike | None = None) -> str | None:
    pointer = models_dir(directory) / DEFAULT_POINTER
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8").strip()
        return name or None
    return None


def require_new_name(name: str | None, directory: str | os.PathLike | None = None) -> None:
    """Refuse, before any work, a bundle name the models folder already holds (bundles are
    never overwritten, and finding out after minutes of training is too late)."""
    if name and (models_dir(directory) / name).exists():
        raise FileExistsError(f"a bundle named {name!r} already exists in {models_dir(directory)}"
                              "; bundles are never overwritten: choose another --name")


def set_default(name: str, directory: str | os.PathLike | None = None) -> Path:
    """Make ``name`` (a bundle in the models folder) the default; written atomically."""
    root = models_dir(directory)
    path = resolve(name, root)
    if path.parent.resolve() != root.resolve():
        raise BundleError(f"the default must be a bundle inside {root}; {path} is not")
    tmp = root / f".{DEFAULT_POINTER}.tmp"
    tmp.write_text(path.name + "\n", encoding="utf-8")
    os.replace(tmp, root / DEFAULT_POINTER)
    return path


def _validation_and_dataset(path: Path) -> tuple[float | None, str | None]:
    """A bundle's validation macro-F1 and its dataset's fingerprint (None where unknown)."""
    config = read_config(path)
    score = config.get("metrics", {}).get("validation", {}).get("macro_f1")
    return float(score) if score is not None else None, dataset_fingerprint(config)


def adopt_if_best(path: Path, make_default: bool | None,
                  directory: str | os.PathLike | None = None) -> str:
    """Apply the default rule to a bundle just saved in the models folder; say what it did.

    ``make_default`` True makes the bundle the default and False never does. None (neither
    ``--set-default`` nor ``--no-default``) makes it the default when the folder has none
    yet, or when it was trained on the same dataset (fingerprint) as the current default and
    scores a higher validation macro-F1. Validation is the split every training choice is
    made on; the test sets stay out of it. Figures from different datasets are not
    comparable, so then the current default stays.
    """
    root = models_dir(directory)
    current = default_name(root)
    if make_default is False:
        return f"the default is unchanged (--no-default): {current or 'there is none'}"
    if make_default or current is None or not (root / current).is_dir():
        set_default(path.name, root)
        reason = "--set-default" if make_default else "there was no default"
        return f"{path.name} is now the default ({reason})"
    try:
        theirs, their_data = _validation_and_dataset(root / current)
    except BundleError as exc:
        set_default(path.name, root)
        return f"{path.name} is now the default (the previous one, {current}, is unreadable: {exc})"
    ours, our_data = _validation_and_dataset(path)
    hint = f"; `contraband models set-default {path.name}` makes it the default"
    if our_data is None or our_data != their_data:
        return (f"the default stays {current}: it was trained on another dataset, so validation "
                f"figures do not compare{hint}")
    if ours is None or theirs is None or ours <= theirs:
        shown = "?" if ours is None else f"{ours:.4f}"
        known = "?" if theirs is None else f"{theirs:.4f}"
        return (f"the default stays {current}: validation macro-F1 {known}, this bundle "
                f"{shown}{hint}")
    set_default(path.name, root)
    return (f"{path.name} is now the default: validation macro-F1 {ours:.4f} against "
            f"{theirs:.4f} for {current}")


def resolve(name: str | os.PathLike | None, directory: str | os.PathLike | None = None) -> Path:
    """Turn a ``--model`` value into a bundle folder; a clear error when nothing matches."""
    root = models_dir(directory)
    if name is None or str(name) == "default":
        pointed = default_name(root)
        if pointed:
            if (root / pointed).is_dir():
                return root / pointed
            raise BundleError(f"{root / DEFAULT_POINTER} names {pointed!r}, which is missing")
        bundles = list_bundles(root)
        if not bundles:
            raise BundleError(
                f"no model bundles in {root}. Train one with `contraband train`, or point "
                "CONTRABAND_MODELS at a folder of bundles."
            )
        return bundles[0].path
    candidate = Path(name)
    if candidate.is_dir():
        return candidate
    text = str(name)
    if text in known_kinds():
        for bundle in list_bundles(root):
            if bundle.kind == text:
                return bundle.path
        raise BundleError(f"no {text} bundle in {root}; train one with "
                          f"`contraband train --model {text}`")
    if (root / text).is_dir():
        return root / text
    raise BundleError(
        f"no bundle called {text!r}: not a folder, not a kind ({', '.join(known_kinds())}) and "
        f"not a bundle in {root}. `contraband models list` shows what there is."
    )

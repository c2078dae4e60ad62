"""The saved-bundle format: a folder with ``config.json``, a model card and the model's files.

``config.json`` describes the model fully (kind, labels, thresholds, versions, the label
policy's hash, the training data's fingerprint, metrics) and records the SHA-256 of every
other file in the folder. Loading verifies every checksum *before* any file is read: the
baseline's files are joblib pickles, and a pickle that does not match must never be loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"


class BundleError(Exception):
    """A bundle is missing, corrupt, tampered with, or made by an incompatible version."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions that decide whether a bundle's files can be read back.

    Read from the installed distributions' metadata: importing scikit-learn only to ask its
    version cost seconds in every process that checks a bundle (a scan's coordinator never
    uses it).
    """
    import model

    return {
        "contraband": model.__version__,
        "python": platform.python_version(),
        "numpy": _installed_version("numpy") or "unknown",
        "scikit-learn": _installed_version("scikit-learn") or "unknown",
    }


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to ``path`` via a temp file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def finalise_bundle(directory: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Checksum every file in ``directory`` and write ``config.json`` last.

    Writing the config last means a folder without one is an unfinished save, never a bundle.
    """
    directory = Path(directory)
    files = {
        str(p.relative_to(directory)): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p != directory / CONFIG_FILE and not p.name.startswith(".")
    }
    full = {**config, "format_version": FORMAT_VERSION, "files": files}
    full.setdefault("packages", package_versions())
    write_json_atomic(directory / CONFIG_FILE, full)
    return full


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object; :class:`BundleError` otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object")
    return data


def dataset_fingerprint(config: Mapping[str, Any]) -> str | None:
    """The fingerprint of the built dataset a bundle was trained on (None when unrecorded)."""
    dataset = config.get("dataset")
    return dataset.get("fingerprint") if isinstance(dataset, Mapping) else None


def read_config(directory: Path) -> dict[str, Any]:
    """Read a bundle's ``config.json`` with clear errors; no checksum work."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise BundleError(f"no bundle at {directory}: not a folder")
    if not path.is_file():
        raise BundleError(f"{directory} is not a bundle: it has no {CONFIG_FILE}")
    config = read_json_object(path)
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{directory} has bundle format {version!r}; this contraband reads format "
            f"{FORMAT_VERSION}. Retrain the model or use the contraband version that made it."
        )
    for key in ("kind", "version", "id2label", "files"):
        if key not in config:
            raise BundleError(f"{path} lacks the required field {key!r}")
    return config


def verify_bundle(directory: Path, *, check_packages: bool = True) -> dict[str, Any]:
    """Return the config after checking every recorded file's checksum and package versions."""
    directory = Path(directory)
    config = read_config(directory)
    for name, expected in config["files"].items():
        path = directory / name
        if not path.is_file():
            raise BundleError(f"{directory}: file {name} listed in {CONFIG_FILE} is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"{directory}: {name} does not match its recorded checksum (expected "
                f"{expected[:12]}…, found {actual[:12]}…); refusing to load a modified bundle"
            )
    if check_packages:
        _check_packages(directory, config.get("packages", {}), config.get("runtime_packages"))
    return config


def _check_packages(directory: Path, recorded: Mapping[str, str], needed: list | None) -> None:
    """Pickled scikit-learn objects only load reliably in the minor version that wrote them."""
    current = package_versions()
    for name in needed if needed is not None else ["scikit-learn"]:
        then, now = recorded.get(name), current.get(name) or _installed_version(name)
        if then and now and then.split(".")[:2] != now.split(".")[:2]:
            raise BundleError(
                f"{directory} was saved with {name} {then}; this environment has {now}. "
                f"Install {name}=={then} or retrain the model."
            )


def _installed_version(name: str) -> str | None:
    """The installed version of a distribution not in :func:`package_versions` (onnxruntime)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None

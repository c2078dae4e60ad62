"""Turn ``INPUT...`` arguments (files, folders, globs, object-storage URIs) into input files."""

from __future__ import annotations

import glob
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.fs as pafs

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
           ".parquet": "parquet", ".pq": "parquet"}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}


@dataclass(frozen=True)
class InputFile:
    """One input: where it is, how to read it, and what it looked like when the scan began."""

    path: str  # absolute local path or a URI pyarrow's filesystems understand
    format: str  # csv | jsonl | parquet
    compression: str | None
    size: int
    mtime_ns: int | None

    def fingerprint(self) -> dict:
        return asdict(self)


def detect_format(name: str) -> tuple[str, str | None] | None:
    """(format, compression) from a file name, or None when it is not a scannable file."""
    lower = name.lower()
    compression = None
    for suffix, codec in COMPRESSIONS.items():
        if lower.endswith(suffix):
            compression, lower = codec, lower[: -len(suffix)]
            break
    for suffix, fmt in FORMATS.items():
        if lower.endswith(suffix):
            if fmt == "parquet" and compression:
                return None  # Parquet compresses internally; a gzipped Parquet is not readable
            return fmt, compression
    return None


def is_uri(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def filesystem_for(path: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and in-filesystem path for a local path or a URI (s3://, gs://…)."""
    if is_uri(path):
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), path


def resolve_inputs(specs: list[str]) -> tuple[list[InputFile], list[str]]:
    """Expand files, folders (recursively) and globs; returns (inputs, problems).

    Problems (a missing path, a glob matching nothing, a file of unknown type named
    explicitly) are returned rather than raised, so the caller decides how strict to be.
    Files are sorted within each argument and de-duplicated across arguments, so the same
    command always yields the same order (resuming relies on it).
    """
    found: list[InputFile] = []
    problems: list[str] = []
    seen: set[str] = set()
    for spec in specs:
        for path, explicit in _expand(spec, problems):
            kind = detect_format(path)
            if kind is None:
                if explicit:
                    problems.append(f"{path}: not a CSV, JSONL(.gz) or Parquet file")
                continue
            if path in seen:
                continue
            seen.add(path)
            try:
                fs, inner = filesystem_for(path)
                info = fs.get_file_info(inner)
            except (OSError, ValueError) as exc:
                problems.append(f"{path}: {exc}")
                continue
            mtime = info.mtime_ns if info.mtime_ns is not None else None
            found.append(InputFile(path, kind[0], kind[1], int(info.size or 0), mtime))
    return found, problems


def _expand(spec: str, problems: list[str]) -> list[tuple[str, bool]]:
    """(path, named explicitly) pairs for one argument."""
    if is_uri(spec):
        fs, inner = pafs.FileSystem.from_uri(spec)
        info = fs.get_file_info(inner)
        if info.type == pafs.FileType.Directory:
            selector = pafs.FileSelector(inner, recursive=True)
            scheme = spec.split("://", 1)[0]
            return [(f"{scheme}://{i.path}", False) for i in sorted(
                fs.get_file_info(selector), key=lambda i: i.path) if i.is_file]
        if info.type == pafs.FileType.NotFound:
            problems.append(f"{spec}: not found")
            return []
        return [(spec, True)]
    if spec.startswith("file://"):
        spec = spec[len("file://"):]
    if glob.has_magic(spec):
        matches = sorted(glob.glob(spec, recursive=True))
        if not matches:
            problems.append(f"{spec}: the pattern matches no file")
        out: list[tuple[str, bool]] = []
        for m in matches:
            out.extend(_expand(m, problems) if os.path.isdir(m) else [(_abs(m), False)])
        return out
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            problems.append(f"{spec}: the folder holds no file")
        return [(_abs(p), False) for p in files]
    if not path.exists():
        problems.append(f"{spec}: no such file or folder")
        return []
    return [(_abs(path), True)]


def _abs(path: str | os.PathLike) -> str:
    return str(Path(path).resolve())

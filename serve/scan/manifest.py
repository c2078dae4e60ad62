"""The scan manifest: what this output holds, so a killed scan resumes exactly once.

``manifest.json`` records the model version, the inputs' fingerprint (paths, sizes, mtimes),
the settings that decide chunking, and for each input file which chunks are committed, into
which part, with their counts. It is rewritten atomically after every part, and it is the
only truth: a part or a reject line not yet in the manifest is redone on resume.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from model.bundle import write_json_atomic
from serve.scan.scoring import ScoredChunk

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
# settings a resume must share with the run that started the output
# (group_by decides what the per-group totals add up)
IDENTITY_KEYS = ("model_version", "inputs", "columns", "chunk_rows", "group_by")


class ManifestMismatch(Exception):
    """The output was started by a different model, inputs or settings."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Manifest:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def create(cls, directory: Path, identity: Mapping[str, Any],
               extra: Mapping[str, Any]) -> Manifest:
        data = {
            "format_version": FORMAT_VERSION,
            **identity,
            **extra,
            "created_at": _now(),
            "updated_at": _now(),
            "rejects_bytes": 0,
            "complete": False,
            "files": {str(i): {"chunks": {}, "complete": False, "error": None}
                      for i in range(len(identity["inputs"]))},
            "totals": {"rows_read": 0, "scanned": 0, "rejected": 0, "labels": {},
                       "decisions": {}, "groups": {}, "renamed_columns": []},
        }
        manifest = cls(directory / MANIFEST_FILE, data)
        manifest.save()
        return manifest

    @classmethod
    def load(cls, directory: Path) -> Manifest | None:
        path = directory / MANIFEST_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestMismatch(f"{path} is not readable ({exc}); use --overwrite to start "
                                   "again") from exc
        if data.get("format_version") != FORMAT_VERSION:
            raise ManifestMismatch(f"{path} has format {data.get('format_version')!r}; use "
                                   "--overwrite to start again")
        return cls(path, data)

    def check_identity(self, identity: Mapping[str, Any]) -> None:
        """Refuse to resume when the model, inputs or chunking differ from the first run."""
        problems = []
        for key in IDENTITY_KEYS:
            if key not in self.data:  # written before the key was part of the identity
                continue
            then, now = self.data.get(key), identity.get(key)
            if then != now:
                problems.append(_describe(key, then, now))
        if problems:
            raise ManifestMismatch(
                f"{self.path.parent} holds a scan with different settings: "
                + "; ".join(problems)
                + ". Re-run with --overwrite to discard it, or choose another --output.")

    # -- queries ------------------------------------------------------------------------
    def file_state(self, file_index: int) -> dict[str, Any]:
        return self.data["files"][str(file_index)]

    def done_chunks(self, file_index: int) -> set[int]:
        return {int(c) for c in self.file_state(file_index)["chunks"]}

    def parts(self) -> list[str]:
        """Committed part names, in input order then chunk order."""
        out = []
        for i in sorted(self.data["files"], key=int):
            chunks = self.data["files"][i]["chunks"]
            out.extend(chunks[c]["part"] for c in sorted(chunks, key=int) if chunks[c]["part"])
        return out

    @property
    def rejects_bytes(self) -> int:
        return int(self.data["rejects_bytes"])

    # -- updates (each followed by an atomic save) --------------------------------------
    def commit_chunk(self, scored: ScoredChunk, part: str | None, rejects_bytes: int) -> None:
        entry = {"part": part, "first_row": scored.first_row, "rows_read": scored.rows_read,
                 "scanned": scored.scanned, "rejected": len(scored.rejects)}
        self.file_state(scored.file_index)["chunks"][str(scored.chunk_index)] = entry
        totals = self.data["totals"]
        totals["rows_read"] += scored.rows_read
        totals["scanned"] += scored.scanned
        totals["rejected"] += len(scored.rejects)
        _add(totals["labels"], scored.labels)
        _add(totals["decisions"], scored.decisions)
        for column, values in scored.groups.items():
            target = totals["groups"].setdefault(column, {})
            for value, counts in values.items():
                _add(target.setdefault(value, {}), counts)
        for name in scored.renamed:
            if name not in totals["renamed_columns"]:
                totals["renamed_columns"].append(name)
        self.data["rejects_bytes"] = rejects_bytes
        self.save()

    def finish_file(self, file_index: int, error: str | None, rejects_bytes: int) -> None:
        state = self.file_state(file_index)
        state["complete"] = True
        state["error"] = error
        self.data["totals"]["rejected_files"] = (
            self.data["totals"].get("rejected_files", 0) + (1 if error else 0))
        self.data["rejects_bytes"] = rejects_bytes
        self.save()

    def set(self, **values: Any) -> None:
        self.data.update(values)
        self.save()

    def save(self) -> None:
        self.data["updated_at"] = _now()
        write_json_atomic(self.path, self.data)


def _add(target: dict[str, int], counts: Mapping[str, int]) -> None:
    for key, value in counts.items():
        target[key] = target.get(key, 0) + int(value)


def _describe(key: str, then: Any, now: Any) -> str:
    if key == "inputs" and isinstance(then, list) and isinstance(now, list):
        old = {i["path"]: i for i in then}
        new = {i["path"]: i for i in now}
        changes = [f"{p} is new" for p in new if p not in old]
        changes += [f"{p} is gone" for p in old if p not in new]
        changes += [f"{p} changed (size or mtime)" for p in new if p in old and old[p] != new[p]]
        if not changes and then != now:
            changes = ["the order of inputs changed"]
        return "inputs differ: " + ", ".join(changes[:5])
    return f"{key} was {then!r}, now {now!r}"

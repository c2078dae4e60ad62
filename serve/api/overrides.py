"""Threshold changes made through ``PUT /v1/thresholds``, kept across restarts.

A JSON file maps a model version to the full thresholds chosen for it::

    {"baseline-20250101-120000": {"drugs": {"block": 0.9, "review": 0.4}, ...}}

Keyed by version, so a newly trained bundle starts from its own tuned thresholds rather than
inheriting numbers chosen for another model. The file is rewritten atomically; readers in
other worker processes notice a change by its modification time.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from model.bundle import write_json_atomic

try:
    import fcntl
except ImportError:  # not POSIX (Windows): one process per machine is then the safe setup
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (POSIX ``flock``; only the thread lock elsewhere)."""
    if fcntl is None:
        yield
        return
    with open(path, "a+b") as handle:  # closing it releases the lock
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


class ThresholdOverrides:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{self.path} is not readable JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise ValueError(f"{self.path} must hold a JSON object keyed by model version")
        return document

    def get(self, version: str) -> dict[str, dict[str, float]] | None:
        with self._lock:
            entry = self._read().get(version)
        return entry if isinstance(entry, dict) else None

    def set(self, version: str, thresholds: Mapping[str, Mapping[str, float]]) -> None:
        """Store ``thresholds`` for ``version``, keeping every other version's entry.

        Read, change and write happen under a lock shared by every process on this machine
        (``fcntl.flock`` on a lock file beside it): two server workers storing a change at
        once must not each write back the file without the other's entry.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, _file_lock(self.path.with_name(f".{self.path.name}.lock")):
            document = self._read()
            document[version] = {k: dict(v) for k, v in thresholds.items()}
            write_json_atomic(self.path, document)

    def stamp(self) -> int | None:
        """The file's modification time (ns), or None when there is no file."""
        try:
            return os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return None

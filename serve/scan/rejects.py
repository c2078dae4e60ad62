"""``rejects.jsonl``: every row that was read but not scanned, with its source and reason.

Appends are flushed and fsynced, and the manifest records the file's committed length, so a
resumed scan first cuts the file back to that length and no reject is written twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

REJECTS_FILE = "rejects.jsonl"


class RejectLog:
    def __init__(self, path: Path, committed_bytes: int) -> None:
        self.path = path
        path.touch(exist_ok=True)
        if path.stat().st_size < committed_bytes:
            raise OSError(f"{path} is shorter than the manifest records ({committed_bytes} "
                          "bytes); it was edited. Use --overwrite to start again.")
        self._handle = open(path, "r+b")  # noqa: SIM115 - kept open for the whole scan
        self._handle.truncate(committed_bytes)
        self._handle.seek(committed_bytes)

    def append(self, records: list[dict]) -> int:
        """Write ``records``; returns the file's new length (to commit in the manifest)."""
        if records:
            payload = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n"
                              for r in records)
            # a rejected row may hold text that is not valid Unicode (an unpaired surrogate
            # from a JSON escape); the reject must still be written, so it is escaped
            self._handle.write(payload.encode("utf-8", errors="backslashreplace"))
            self._handle.flush()
            os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RejectLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Moderators' verdicts, stored durably in SQLite, exported as a training table.

The database runs in WAL mode with ``synchronous=FULL``: a verdict the API has answered
201 for is on disk and survives the process or the machine dying right after. Several
worker processes may write at once (SQLite serialises them; ``busy_timeout`` waits).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id    TEXT,
    title         TEXT NOT NULL,
    description   TEXT,
    label         TEXT NOT NULL,
    note          TEXT,
    moderator     TEXT NOT NULL,
    model_version TEXT,
    created_at    TEXT NOT NULL
)
"""
COLUMNS = ("feedback_id", "listing_id", "title", "description", "label", "note", "moderator",
           "model_version", "created_at")


@dataclass(frozen=True)
class Verdict:
    title: str
    label: str
    description: str | None = None
    listing_id: str | None = None
    note: str | None = None
    moderator: str = "unknown"
    model_version: str | None = None


def connect(path: Path) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        conn.close()
        raise RuntimeError(f"{path}: SQLite refused WAL mode (got {mode!r}); use a local disk")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute(SCHEMA)
    return conn


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._lock = threading.Lock()

    def add(self, verdict: Verdict) -> int:
        """Store one verdict; returns its id once it is committed to disk."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._conn.execute(
                    "INSERT INTO feedback (listing_id, title, description, label, note, "
                    "moderator, model_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (verdict.listing_id, verdict.title, verdict.description, verdict.label,
                     verdict.note, verdict.moderator, verdict.model_version, now),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return int(cursor.lastrowid)

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Every stored verdict, oldest first (read-only; the server may keep writing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no feedback database at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM feedback ORDER BY feedback_id")
        for row in cursor:
            yield dict(zip(COLUMNS, row, strict=True))
    finally:
        conn.close()

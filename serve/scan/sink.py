"""Commit scored chunks: part file, then reject lines, then the manifest (in that order).

The order is what makes a scan exactly-once. A part written but not yet in the manifest is
rewritten under the same name on resume; reject lines written but not yet in the manifest
are cut off on resume (the manifest records the committed length of ``rejects.jsonl``).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from serve.scan.inputs import InputFile
from serve.scan.manifest import Manifest
from serve.scan.progress import Progress
from serve.scan.readers import reject
from serve.scan.rejects import RejectLog
from serve.scan.scoring import ScoredChunk
from serve.scan.writer import part_name, write_part

log = logging.getLogger("serve.scan")

# Test hooks, read once: pause between the steps of a commit (so a test can kill the scan
# inside one), or kill the process after N parts have been written but not committed.
PAUSE_ENV = "CONTRABAND_SCAN_TEST_PAUSE_S"
KILL_ENV = "CONTRABAND_SCAN_TEST_KILL_AFTER_PARTS"


class ScanError(Exception):
    """The scan cannot go on (``--strict`` and a bad file, settings that do not match…)."""


@dataclass
class FileEnd:
    """A reader finished a file: ``chunks`` chunks in all, or stopped on ``error``."""

    file_index: int
    chunks: int
    error: str | None = None


class Sink:
    def __init__(self, manifest: Manifest, inputs: list[InputFile], rejects: RejectLog,
                 parts_dir: Path, progress: Progress, *, strict: bool) -> None:
        self.manifest = manifest
        self.inputs = inputs
        self.rejects = rejects
        self.parts_dir = parts_dir
        self.progress = progress
        self.strict = strict
        self.rows_this_run = 0
        self._pending: dict[int, FileEnd] = {}
        self._pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
        kill = os.environ.get(KILL_ENV)
        self._kill_after = int(kill) if kill else None
        self._parts_written = 0

    def commit(self, scored: ScoredChunk) -> None:
        state = self.manifest.file_state(scored.file_index)
        if state["complete"] or scored.chunk_index in self.manifest.done_chunks(
                scored.file_index):
            return
        part = None
        if scored.table is not None and scored.table.num_rows:
            part = part_name(scored.file_index, scored.chunk_index)
            write_part(scored.table, self.parts_dir, part)
            self._parts_written += 1
            self._test_hooks()
        offset = self.rejects.append(scored.rejects)
        self._test_hooks(kill=False)
        self.manifest.commit_chunk(scored, part, offset)
        self.rows_this_run += scored.rows_read
        self.progress.update(scored.rows_read)
        self._maybe_finish(scored.file_index)

    def file_end(self, end: FileEnd) -> None:
        if self.manifest.file_state(end.file_index)["complete"]:
            return
        if end.error:
            path = self.inputs[end.file_index].path
            if self.strict:
                raise ScanError(f"{path}: {end.error} (--strict)")
            log.warning("skipping the rest of %s: %s", path, end.error)
        self._pending[end.file_index] = end
        self._maybe_finish(end.file_index)

    def _maybe_finish(self, file_index: int) -> None:
        end = self._pending.get(file_index)
        if end is None or not self.manifest.done_chunks(file_index) >= set(range(end.chunks)):
            return
        del self._pending[file_index]
        records = []
        if end.error:
            records.append(reject(self.inputs[file_index],
                                  f"unreadable file: {end.error}"))
        offset = self.rejects.append(records)
        self.manifest.finish_file(file_index, end.error, offset)

    def _test_hooks(self, kill: bool = True) -> None:
        if self._pause:
            time.sleep(self._pause)
        if kill and self._kill_after is not None and self._parts_written >= self._kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

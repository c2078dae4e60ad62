"""Progress: a tqdm bar (rows/s, ETA) on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("serve.scan")


class Progress:
    def __init__(self, total: int | None, initial: int = 0, *, every_s: float = 15.0,
                 tty: bool | None = None) -> None:
        self.total = total
        self.done = initial
        self.every_s = every_s
        self._start = time.monotonic()
        self._start_done = initial
        self._last_log = self._start
        self._bar = None
        if sys.stderr.isatty() if tty is None else tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit=" rows", unit_scale=True,
                             dynamic_ncols=True, smoothing=0.1)

    def update(self, rows: int) -> None:
        self.done += rows
        if self._bar is not None:
            self._bar.update(rows)
            return
        now = time.monotonic()
        if now - self._last_log >= self.every_s:
            self._last_log = now
            log.info("scan progress: %s", self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._start, 1e-9)
        rate = (self.done - self._start_done) / elapsed
        if self.total:
            left = max(self.total - self.done, 0)
            eta = f", ETA {_clock(left / rate)}" if rate > 0 else ""
            return (f"{self.done:,}/{self.total:,} rows ({100 * self.done / self.total:.1f}%), "
                    f"{rate:,.0f} rows/s{eta}")
        return f"{self.done:,} rows, {rate:,.0f} rows/s"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

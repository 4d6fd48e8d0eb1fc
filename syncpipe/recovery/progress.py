"""Progress of long commands on stderr: counts and rates, never mixed into the stdout a script parses.

On a terminal one line is redrawn in place a few times a second; otherwise (a log file, CI) a line
is written every few seconds, so the log shows the pace without drowning in it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

# Redraws per second on a terminal: smooth enough to see movement, cheap enough to ignore.
_TTY_INTERVAL_S = 0.25
# One line per this long into a file: a 10-minute replay leaves ~60 lines.
_LOG_INTERVAL_S = 10.0


class StderrProgress:
    """`Progress` (workers/replay/progress.py) for the command line: `label: done/total unit (pct) rate`."""

    def __init__(self, label: str, unit: str, stream: TextIO | None = None) -> None:
        self._label = label
        self._unit = unit
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._shown_at = self._started  # the first line after one interval: short work shows only `finish`
        self._done = 0
        self._total: int | None = None
        self._drawn = False

    def update(self, done: int, total: int | None = None) -> None:
        self._done, self._total = done, total if total is not None else self._total
        now = time.monotonic()
        if now - self._shown_at >= (_TTY_INTERVAL_S if self._tty else _LOG_INTERVAL_S):
            self._shown_at = now
            self._write(self._line(now))

    def note(self, message: str) -> None:
        self._clear()
        print(f"{self._label}: {message}", file=self._stream, flush=True)

    def finish(self) -> None:
        """The final count and rate, on a line of its own."""
        self._clear()
        print(self._line(time.monotonic()), file=self._stream, flush=True)

    def _line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-6)
        counted = f"{self._done:,}" if self._total is None else f"{self._done:,}/{self._total:,}"
        share = f" ({100 * self._done / self._total:.0f}%)" if self._total else ""
        return f"{self._label}: {counted} {self._unit}{share} in {elapsed:.1f} s, {self._done / elapsed:,.0f}/s"

    def _write(self, line: str) -> None:
        if self._tty:
            self._stream.write(f"\r\x1b[2K{line}")
            self._stream.flush()
            self._drawn = True
        else:
            print(line, file=self._stream, flush=True)

    def _clear(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[2K")
            self._drawn = False

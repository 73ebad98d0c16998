"""A small stderr progress bar for long backtests and imports (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call with (done, total); redraws at most every ``every_s`` seconds and on completion, which it
    draws once (a second call at the end prints nothing). On a stream that is not a terminal (a log
    file, a pipe) only the completed bar is written, as one plain line."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30, every_s: float = 0.2,
                 enabled: bool = True) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.every_s = every_s
        self.enabled = enabled
        self._last = 0.0
        self._t0 = time.monotonic()
        self._finished = False
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or self._finished:
            return
        now = time.monotonic()
        if done < total and (not self.tty or now - self._last < self.every_s):
            return
        self._last = now
        frac = done / total if total else 1.0
        fill = int(frac * self.width)
        bar = "#" * fill + "." * (self.width - fill)
        start = "\r" if self.tty else ""
        self.stream.write(f"{start}{self.label} [{bar}] {frac * 100:5.1f}% {done}/{total} {now - self._t0:6.1f}s")
        if done >= total:
            self.stream.write("\n")
            self._finished = True
        self.stream.flush()
